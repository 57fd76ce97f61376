"""DCMTK association configuration files (``dcmrecv -xf FILE PROFILE``): parser and profile model.

Behaviour follows DCMTK 3.6.7 (``OFConfigFile``, ``DcmAssociationConfigurationFile``,
``DcmAssociationConfiguration``, ``DcmSCPConfig::checkAssociationProfile``), including its quirks,
so that a file dcmrecv accepts is accepted here with the same meaning and a file it rejects is
rejected with the same message.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from dcmrecv_cluster.shared import exitcodes
from dcmrecv_cluster.shared.uidnames import is_valid_uid, lookup_symbolic_uid

__all__ = [
    "AssociationConfigError",
    "AssociationProfile",
    "PresentationContextSpec",
    "MAX_CONTEXTS_PER_LIST",
    "VERIFICATION_ONLY",
    "load_profile",
]

MAX_CONTEXTS_PER_LIST = 128  # DcmPresentationContextMap::add
_MAX_EXTNEG_HEX_CHARS = 2048  # DCMTK rejects len(value) - pos('\\') > 2048, i.e. >= 1024 bytes

_ILLEGAL_CALL = "Illegal call, perhaps wrong parameters"  # DCMTK EC_IllegalCall
_INVALID_PROFILE = "Invalid or non-existing SCP Association Profile"  # NET_EC_InvalidSCPAssociationProfile
_WHITESPACE = " \t\n\v\f\r"  # C isspace() in the "C" locale
_KEYWORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


# --------------------------------------------------------------------------- errors


class AssociationConfigError(Exception):
    """A config file or profile that dcmrecv refuses (it exits 66 before listening).

    ``str(err)`` is DCMTK's condition text (what follows ``F: cannot load association
    configuration:``).  ``log_lines`` holds the (level, text) lines to print, in order: exactly
    dcmrecv's lines plus, where we know it, one ``E`` line of our own naming file, line, section and
    key.  ``dcmtk_log_lines`` is the same without our extra line (byte-identical to dcmrecv).
    """

    exit_code = exitcodes.INVALID_ASSOCIATION_CONFIG

    def __init__(
        self,
        text: str,
        dcmtk_log_lines: list[tuple[str, str]],
        location: str | None = None,
    ) -> None:
        super().__init__(text)
        self.text = text
        self.location = location
        self.dcmtk_log_lines = _split_lines(dcmtk_log_lines)
        extra = [("E", location)] if location else []
        self.log_lines = _split_lines(dcmtk_log_lines[:-1] + extra + dcmtk_log_lines[-1:])

    @classmethod
    def parse_failure(cls, path: str, text: str, location: str | None = None) -> AssociationConfigError:
        """Error from reading the file (``DcmSCPConfig::loadAssociationCfgFile`` logs it first)."""
        return cls(
            text,
            [
                ("E", f"Unable to parse association configuration file: {path}: {text}"),
                ("F", f"cannot load association configuration: {text}"),
            ],
            location,
        )


def _split_lines(messages: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """oflog prints a multi-line message (a value with continuation lines) line by line, each prefixed."""
    return [(level, line) for level, text in messages for line in text.split("\n")]


class _ParseError(Exception):
    """Internal: DCMTK condition text plus where in the file it arose."""

    def __init__(self, text: str, where: _Where | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.where = where


# --------------------------------------------------------------------------- profile model


@dataclass(frozen=True)
class PresentationContextSpec:
    """One configured presentation context: what we accept for one abstract syntax."""

    abstract_syntax: str  # UID
    transfer_syntaxes: tuple[str, ...]  # UIDs, SCP preference order
    role: str | None = None  # None, "SCU", "SCP", "BOTH" (from the profile's role list)
    extended_negotiation: bytes | None = None


@dataclass(frozen=True)
class AssociationProfile:
    """An SCP profile: the ordered presentation contexts it accepts.

    ``extended_negotiation`` is the profile's extended negotiation list in configuration order
    (DCMTK answers in that order); each item's data is also on its context's spec.
    """

    name: str
    contexts: tuple[PresentationContextSpec, ...]
    extended_negotiation: tuple[tuple[str, bytes], ...] = ()

    def find(self, abstract_syntax: str) -> PresentationContextSpec | None:
        """The context DCMTK would use for this abstract syntax (the first one naming it), or None."""
        return next((spec for spec in self.contexts if spec.abstract_syntax == abstract_syntax), None)


VERIFICATION_ONLY = AssociationProfile(
    name="DEFAULT",
    contexts=(PresentationContextSpec("1.2.840.10008.1.1", ("1.2.840.10008.1.2",)),),
)
"""dcmrecv's profile without ``-xf``: Verification with Implicit VR Little Endian only."""


# --------------------------------------------------------------------------- OFConfigFile reader


@dataclass
class _Node:
    """One keyword of the OFConfigFile tree (level 2 ``[[x]]``, level 1 ``[x]``, level 0 ``k = v``)."""

    keyword: str
    pos: int
    value: str = ""
    children: list[_Node] = field(default_factory=list)

    def entry(self, key: str) -> _Node | None:
        """First child with this keyword (``OFConfigFile::get_entry``)."""
        for child in self.children:
            if child.keyword == key:
                return child
        return None


class _Reader:
    """Character-level emulation of ``OFConfigFile::read_char``/``read_entry`` (DCMTK 3.6.7).

    Works on the file's bytes decoded as latin-1 so that every byte is one character, as in C.
    Quirks kept on purpose: ``#`` starts a comment only as the first character of a line (and the
    whole comment line, newline included, vanishes, even between continuation lines); keywords
    keep only ``A-Z 0-9 - _`` after upper-casing and may span lines until ``=`` or ``]``; values
    keep trailing blanks; NUL becomes a blank; CR, LF and CRLF all end a line.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._i = 0
        self._pushback: str | None = None
        self.eof = False
        self._isnewline = True
        self._crfound = False

    def _getc(self) -> str | None:
        if self._pushback is not None:
            c, self._pushback = self._pushback, None
            return c
        if self._i >= len(self._text):
            self.eof = True
            return None
        c = self._text[self._i]
        self._i += 1
        return c

    def _ungetc(self, c: str) -> None:
        self._pushback = c
        self.eof = False

    @property
    def pos(self) -> int:
        """Offset of the next character to be read (for line numbers)."""
        return self._i - (1 if self._pushback is not None else 0)

    def read_char(self) -> str | None:
        commentmode = False
        while True:
            c = self._getc()
            if c is None:
                return None
            if c == "\n" and self._crfound and self._isnewline:
                self._crfound = False
                continue
            if c in "\r\n":
                self._isnewline = True
                self._crfound = c == "\r"
                if commentmode:
                    commentmode = False
                    continue
                return "\n"
            if c == "#" and self._isnewline:
                commentmode = True
                self._isnewline = False
                continue
            if not commentmode:
                self._isnewline = False
                return " " if c == "\0" else c

    def read_keywordchar(self) -> str | None:
        c: str | None = None
        while not self.eof:
            c = self.read_char()
            if c is None or c not in " \t\n":
                break
        if c is not None and "a" <= c <= "z":
            c = c.upper()
        return c

    def read_entry(self) -> tuple[int, str, int, str | None] | None:
        """Read one keyword (and its value for level 0): (level, keyword, pos, value) or None at EOF."""
        c = self.read_keywordchar()
        if self.eof:
            return None
        pos = self.pos - 1
        key: list[str] = []
        level = 0
        if c == "[":
            level = 1
            while True:
                c = self.read_keywordchar()
                valid = not self.eof
                if valid and c == "[":
                    level += 1
                else:
                    break
            if valid:
                self._ungetc(c)  # type: ignore[arg-type]
                while True:
                    c = self.read_keywordchar()
                    valid = not self.eof
                    if not valid:
                        break
                    if c in _KEYWORD_CHARS:
                        key.append(c)  # type: ignore[arg-type]
                    elif c == "]":
                        break
            if valid:
                pending = level - 1
                while pending:
                    c = self.read_keywordchar()
                    if self.eof:
                        break
                    if c == "]":
                        pending -= 1
            level = min(level, 2)
        else:
            self._ungetc(c)  # type: ignore[arg-type]
            while True:
                c = self.read_keywordchar()
                if self.eof:
                    break
                if c in _KEYWORD_CHARS:
                    key.append(c)  # type: ignore[arg-type]
                elif c == "=":
                    break
        if level:
            return level, "".join(key), pos, None
        return 0, "".join(key), pos, self._read_value()

    def _read_value(self) -> str:
        buf: list[str] = []
        skipwhite, justnewline = True, False
        while True:
            c = self.read_char()
            if c is None:
                break
            if c == "\n":
                if not skipwhite:
                    buf.append(c)
                skipwhite, justnewline = True, True
            elif c in " \t":
                justnewline = False
                if not skipwhite:
                    buf.append(c)
            elif justnewline:
                self._ungetc(c)
                break
            else:
                buf.append(c)
                skipwhite = False
        return "".join(buf).rstrip("\n")


def _read_tree(text: str) -> list[_Node]:
    """Build the OFConfigFile tree; entries without a parent section are dropped, as in DCMTK."""
    reader = _Reader(text)
    supers: list[_Node] = []
    section2: _Node | None = None
    section1: _Node | None = None
    while not reader.eof:
        item = reader.read_entry()
        if item is None:
            break
        level, keyword, pos, value = item
        node = _Node(keyword, pos, value or "")
        if level == 2:
            supers.append(node)
            section2, section1 = node, None
        elif level == 1:
            if section2 is not None:
                section2.children.append(node)
                section1 = node
        elif section1 is not None:
            section1.children.append(node)
    return supers


# --------------------------------------------------------------------------- semantic parse


@dataclass(frozen=True)
class _Where:
    """Location of a config entry, for our own diagnostic line."""

    pos: int
    supersection: str
    section: str
    key: str | None = None


@dataclass
class _Config:
    """The parsed file: DCMTK's five maps (keys are mangled section names)."""

    line_starts: list[int]
    transfer_syntaxes: dict[str, list[str]] = field(default_factory=dict)
    contexts: dict[str, list[tuple[str, str, _Where]]] = field(default_factory=dict)
    roles: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    extneg: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    profiles: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)

    def line_of(self, pos: int) -> int:
        return bisect.bisect_right(self.line_starts, pos)


def _mangle_ref(text: str) -> str:
    """Section reference as DCMTK looks it up: whitespace removed, ASCII upper-cased."""
    return "".join(c.upper() if "a" <= c <= "z" else c for c in text if c not in _WHITESPACE)


def _numbered(section: _Node, prefix: str) -> Iterable[tuple[str, _Node]]:
    """``PREFIX1``, ``PREFIX2``, ... up to the first missing number (a gap hides the rest)."""
    n = 1
    while True:
        key = f"{prefix}{n}"
        node = section.entry(key)
        if node is None:
            return
        yield key, node
        n += 1


def _find_super(tree: list[_Node], name: str) -> _Node | None:
    for node in tree:
        if node.keyword == name:
            return node
    return None


def _split_value(value: str, key: str, where: _Where) -> tuple[str, str]:
    sep = value.find("\\")
    if sep < 0:
        raise _ParseError(f"syntax error: missing '\\' in entry {key} in config file", where)
    return value[:sep], value[sep + 1 :]


def _parse_transfer_syntaxes(tree: list[_Node], cfg: _Config) -> None:
    sup = _find_super(tree, "TRANSFERSYNTAXES")
    if sup is None:
        raise _ParseError("cannot find section [[TRANSFERSYNTAXES]] in config file")
    for section in sup.children:
        for key, node in _numbered(section, "TRANSFERSYNTAX"):
            where = _Where(node.pos, "TRANSFERSYNTAXES", section.keyword, key)
            uid = lookup_symbolic_uid(node.value)
            if not is_valid_uid(uid):
                raise _ParseError(f"not a valid transfer syntax UID: {node.value}", where)
            cfg.transfer_syntaxes.setdefault(section.keyword, []).append(uid)


def _parse_presentation_contexts(tree: list[_Node], cfg: _Config) -> None:
    sup = _find_super(tree, "PRESENTATIONCONTEXTS")
    if sup is None:
        raise _ParseError("cannot find section [[PRESENTATIONCONTEXTS]] in config file")
    for section in sup.children:
        for key, node in _numbered(section, "PRESENTATIONCONTEXT"):
            where = _Where(node.pos, "PRESENTATIONCONTEXTS", section.keyword, key)
            abstract, rest = _split_value(node.value, key, where)
            ts_key = _mangle_ref(rest)
            if ts_key not in cfg.transfer_syntaxes:
                raise _ParseError(f"transfer syntax key undefined: {ts_key}", where)
            if not section.keyword or not abstract or not ts_key:
                raise _ParseError(_ILLEGAL_CALL, where)
            uid = lookup_symbolic_uid(abstract)
            if not is_valid_uid(uid):
                raise _ParseError(f"not a valid abstract syntax UID: {abstract}", where)
            entries = cfg.contexts.setdefault(section.keyword, [])
            if len(entries) >= MAX_CONTEXTS_PER_LIST:
                raise _ParseError(
                    f"presentation context list too long (> 128 entries): {section.keyword}", where
                )
            entries.append((uid, ts_key, where))


def _parse_roles(tree: list[_Node], cfg: _Config) -> None:
    sup = _find_super(tree, "SCPSCUROLESELECTION")
    if sup is None:
        return  # optional
    for section in sup.children:
        for key, node in _numbered(section, "ROLE"):
            where = _Where(node.pos, "SCPSCUROLESELECTION", section.keyword, key)
            abstract, rest = _split_value(node.value, key, where)
            role = "".join(c.upper() if "a" <= c <= "z" else c for c in rest)  # no trimming
            if role not in ("SCU", "SCP", "BOTH"):
                raise _ParseError(f"syntax error: unknown role key in entry {key} in config file", where)
            uid = lookup_symbolic_uid(abstract)
            if not is_valid_uid(uid):
                raise _ParseError(f"not a valid abstract syntax UID: {abstract}", where)
            entries = cfg.roles.setdefault(section.keyword, [])
            if any(existing == uid for existing, _ in entries):
                raise _ParseError(
                    f"role selection defined twice for abstract syntax UID: {abstract}", where
                )
            entries.append((uid, role))


_HEX_PAIR = re.compile(r"[0-9A-Fa-f]{2}")


def _parse_extended_negotiation(tree: list[_Node], cfg: _Config) -> None:
    sup = _find_super(tree, "EXTENDEDNEGOTIATION")
    if sup is None:
        return  # optional
    for section in sup.children:
        for key, node in _numbered(section, "EXTENDEDNEGOTIATION"):
            where = _Where(node.pos, "EXTENDEDNEGOTIATION", section.keyword, key)
            abstract, data = _split_value(node.value, key, where)
            if len(data) + 1 > _MAX_EXTNEG_HEX_CHARS:
                raise _ParseError(
                    "extended negotiation data too long, cannot handle > 1024 bytes "
                    f"in entry {key} in config file",
                    where,
                )
            raw = bytearray()
            for i in range(0, len(data), 2):
                pair = data[i : i + 2]
                if not _HEX_PAIR.fullmatch(pair):
                    raise _ParseError(
                        f"parse error in extended negotiation data in entry {key} in config file", where
                    )
                raw.append(int(pair, 16))
            if not raw:
                raise _ParseError(_ILLEGAL_CALL, where)
            uid = lookup_symbolic_uid(abstract)
            if not is_valid_uid(uid):
                raise _ParseError(f"not a valid abstract syntax UID: {abstract}", where)
            entries = cfg.extneg.setdefault(section.keyword, [])
            if any(existing == uid for existing, _ in entries):
                raise _ParseError(
                    f"extended negotiation defined twice for abstract syntax UID: {abstract}", where
                )
            entries.append((uid, bytes(raw)))


def _check_list_against_contexts(
    list_key: str, uids: Iterable[str], cfg: _Config, pc_key: str, where: _Where
) -> None:
    """Role/ext-neg list vs. the profile's PC list (DCMTK says "role selection list" for both)."""
    if pc_key not in cfg.contexts:
        raise _ParseError(f"presentation context key undefined: {pc_key}", where)
    known = {uid for uid, _, _ in cfg.contexts[pc_key]}
    for uid in uids:
        if uid not in known:
            raise _ParseError(
                f"abstract syntax defined in role selection list '{list_key}' "
                f"but not in presentation context list '{pc_key}': {uid}",
                where,
            )


def _parse_profiles(tree: list[_Node], cfg: _Config) -> None:
    sup = _find_super(tree, "PROFILES")
    if sup is None:
        raise _ParseError("cannot find section [[PROFILES]] in config file")
    for section in sup.children:
        where = _Where(section.pos, "PROFILES", section.keyword)
        context_node = section.entry("PRESENTATIONCONTEXTS")
        if context_node is None:
            raise _ParseError(
                f"no PRESENTATIONCONTEXTS  entry in section {section.keyword} in config file", where
            )
        role_node = section.entry("SCPSCUROLESELECTION")
        extneg_node = section.entry("EXTENDEDNEGOTIATION")
        pc_key = _mangle_ref(context_node.value)
        role_key = _mangle_ref(role_node.value) if role_node is not None else None
        extneg_key = _mangle_ref(extneg_node.value) if extneg_node is not None else None
        pc_where = _Where(context_node.pos, "PROFILES", section.keyword, "PRESENTATIONCONTEXTS")
        if pc_key not in cfg.contexts:
            raise _ParseError(f"presentation context key undefined: {pc_key}", pc_where)
        if role_node is not None and role_key is not None:
            role_where = _Where(role_node.pos, "PROFILES", section.keyword, "SCPSCUROLESELECTION")
            if role_key not in cfg.roles:
                raise _ParseError(f"role selection key undefined: {role_key}", role_where)
            roles = (uid for uid, _ in cfg.roles[role_key])
            _check_list_against_contexts(role_key, roles, cfg, pc_key, role_where)
        if extneg_node is not None and extneg_key is not None:
            en_where = _Where(extneg_node.pos, "PROFILES", section.keyword, "EXTENDEDNEGOTIATION")
            if extneg_key not in cfg.extneg:
                raise _ParseError(f"extended negotiation key undefined: {extneg_key}", en_where)
            items = (uid for uid, _ in cfg.extneg[extneg_key])
            _check_list_against_contexts(extneg_key, items, cfg, pc_key, en_where)
        if section.keyword in cfg.profiles:
            raise _ParseError(f"two profiles defined for key: {pc_key}", where)
        cfg.profiles[section.keyword] = (pc_key, role_key, extneg_key)


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]


def parse_config_text(text: str) -> _Config:
    """Parse a whole config file (decoded latin-1); raises ``_ParseError`` like DCMTK's ``initialize``."""
    tree = _read_tree(text)
    cfg = _Config(_line_starts(text))
    _parse_transfer_syntaxes(tree, cfg)
    _parse_presentation_contexts(tree, cfg)
    _parse_roles(tree, cfg)
    _parse_extended_negotiation(tree, cfg)
    _parse_profiles(tree, cfg)
    return cfg


# --------------------------------------------------------------------------- loading a profile


def _describe(path: str, cfg_or_text: _Config | str, where: _Where | None) -> str | None:
    """Our own diagnostic line: file, line, section and key of the offending entry."""
    if where is None:
        return None
    starts = cfg_or_text.line_starts if isinstance(cfg_or_text, _Config) else _line_starts(cfg_or_text)
    line = bisect.bisect_right(starts, where.pos)
    text = f"{path}, line {line}: section [[{where.supersection}]] [{where.section}]"
    if where.key:
        text += f", key {where.key}"
    return text


def _to_text(value: str) -> str:
    """Back from the latin-1 byte view to text: UTF-8, other bytes as surrogates.

    ``text.encode("utf-8", "surrogateescape")`` gives back the file's bytes, which is what dcmrecv
    prints; Python's stderr would print surrogates as backslash escapes instead.
    """
    return value.encode("latin-1").decode("utf-8", "surrogateescape")


def _read_file(path: str) -> str:
    """File contents as latin-1 text; a directory reads as empty (``fopen`` succeeds on Linux)."""
    try:
        with open(path, "rb") as fh:
            return fh.read().decode("latin-1")
    except IsADirectoryError:
        return ""
    except OSError:
        raise AssociationConfigError.parse_failure(path, f"unable to open configuration file: {path}") from None


def _profile_error(dcmtk_line: str, location: str | None = None) -> AssociationConfigError:
    return AssociationConfigError(
        _INVALID_PROFILE,
        [("E", dcmtk_line), ("F", f"cannot load association configuration: {_INVALID_PROFILE}")],
        location,
    )


def load_profile(path: str, profile: str) -> AssociationProfile:
    """Load ``profile`` from DCMTK config file ``path`` exactly as ``dcmrecv -xf path profile`` would.

    Raises :class:`AssociationConfigError` for every case where dcmrecv exits 66.
    """
    if not path:
        text = "Invalid filename"  # EC_InvalidFilename: dcmrecv logs only the F line
        raise AssociationConfigError(text, [("F", f"cannot load association configuration: {text}")])
    content = _read_file(path)
    try:
        cfg = parse_config_text(content)
    except _ParseError as err:
        text = _to_text(err.text)
        raise AssociationConfigError.parse_failure(path, text, _describe(path, content, err.where)) from None
    if not profile:
        text = "Illegal parameter"  # EC_IllegalParameter, F line only
        raise AssociationConfigError(text, [("F", f"cannot load association configuration: {text}")])
    mangled = "".join(c.upper() if "a" <= c <= "z" else c for c in profile if c not in _WHITESPACE)
    if mangled not in cfg.profiles:
        raise _profile_error(
            f'No association profile named "{profile}" in association configuration, '
            "did you forget to add presentation contexts?"
        )
    pc_key, role_key, extneg_key = cfg.profiles[mangled]
    entries = cfg.contexts[pc_key]
    seen: dict[str, _Where] = {}
    for uid, _, where in entries:
        if uid in seen:
            first = seen[uid]
            location = (
                f"{path}, line {cfg.line_of(where.pos)}: section [[PRESENTATIONCONTEXTS]] [{pc_key}]: "
                f"abstract syntax {uid} is listed twice ({first.key} and {where.key}); "
                "an SCP profile may list each abstract syntax only once"
            )
            raise _profile_error(
                f'The association profile named "{profile}" is not a valid SCP association profile',
                location,
            )
        seen[uid] = where
    roles = dict(cfg.roles.get(role_key, ())) if role_key else {}
    extneg = dict(cfg.extneg.get(extneg_key, ())) if extneg_key else {}
    contexts = tuple(
        PresentationContextSpec(
            abstract_syntax=uid,
            transfer_syntaxes=tuple(cfg.transfer_syntaxes[ts_key]),
            role=roles.get(uid),
            extended_negotiation=extneg.get(uid),
        )
        for uid, ts_key, _ in entries
    )
    return AssociationProfile(name=mangled, contexts=contexts, extended_negotiation=tuple(extneg.items()))
