"""Who may associate: the calling AE titles (optionally pinned to addresses) and the called AE title.

Parsed and checked once by the supervisor at start-up (a bad list is a command-line
error, exit 1), handed to every worker frozen, and applied by the worker right after
it has decoded the A-ASSOCIATE-RQ (workers/access.py), because only the request
carries the AE titles. Everything here is opt-in: without --calling-aets and
--require-called-aet any calling and called AE title is accepted, as by dcmrecv.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

# A-ASSOCIATE-RJ (result, source, reason), PS3.8 9.3.4: source 1 = DICOM UL service-user
RJ_CALLING_AE = (1, 1, 3)       # rejected-permanent, calling-AE-title-not-recognized
RJ_CALLED_AE = (1, 1, 7)        # rejected-permanent, called-AE-title-not-recognized
# rejected-transient, source 3 = service-provider (presentation), local-limit-exceeded: what
# --max-associations answers, and what DCMTK's storescp answers for "too many associations"
RJ_PER_AET_LIMIT = (2, 3, 2)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def ae_title(text: str) -> str:
    """An AE title as compared: leading and trailing spaces are not significant (PS3.5 AE)."""
    return text.strip(" ")


def parse_networks(text: str, option: str, strict: bool = False) -> tuple[Network, ...]:
    """`CIDR[,CIDR...]` (a bare address is /32 or /128); ValueError with a readable text.

    ``strict``: host bits set in a CIDR are an error, not silently masked.
    """
    networks = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"empty entry in {option} {text!r}")
        try:
            networks.append(ipaddress.ip_network(part, strict=strict))
        except ValueError as exc:
            raise ValueError(f"invalid {option} entry {part!r}: {exc}") from None
    return tuple(networks)


def address_in(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def _host_networks(text: str, where: str) -> tuple[Network, ...]:
    """A CIDR, an address, or a host name (resolved once, at start-up, to all its addresses)."""
    try:
        return (ipaddress.ip_network(text, strict=False),)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(text, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ValueError(f"{where}: cannot resolve host {text!r}: {exc.strerror or exc}") from None
    return tuple(sorted({ipaddress.ip_network(info[4][0]) for info in infos}, key=str))


def parse_calling_aets(value: str) -> dict[str, tuple[Network, ...]]:
    """`TITLE[,TITLE...]` or `@FILE` (one `TITLE [HOST-OR-CIDR]` per line, `#` comments).

    Returns title -> networks it may come from; an empty tuple means from anywhere.
    A title listed several times may come from the union of its lines.
    """
    rules: dict[str, list[Network] | None] = {}
    if value.startswith("@"):
        name = value[1:]
        try:
            with open(name, encoding="latin-1") as f:
                lines = f.read().splitlines()
        except OSError as exc:
            raise ValueError(f"cannot read --calling-aets file {name!r}: {exc.strerror or exc}") from None
        for number, line in enumerate(lines, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            where = f"--calling-aets file {name!r} line {number}"
            if len(words) > 2 or len(words[0]) > 16:
                raise ValueError(f"{where}: expected 'TITLE [HOST-OR-CIDR]' with a title of at most 16 characters")
            title = ae_title(words[0])
            if len(words) == 1:
                rules[title] = None                 # from anywhere, whatever other lines say
            elif rules.get(title, []) is not None:
                rules.setdefault(title, []).extend(_host_networks(words[1], where))  # type: ignore[union-attr]
    else:
        for part in value.split(","):
            title = ae_title(part)
            if not title or len(title) > 16:
                raise ValueError(f"invalid --calling-aets entry {part!r} (1 to 16 characters)")
            rules[title] = None
    if not rules:
        raise ValueError("--calling-aets lists no AE title")
    return {title: tuple(networks or ()) for title, networks in rules.items()}


@dataclass(frozen=True)
class Refusal:
    rj: tuple[int, int, int]
    reason: str         # metric label
    text: str           # for the log


@dataclass(frozen=True)
class AccessPolicy:
    """What the worker checks on each A-ASSOCIATE-RQ; picklable (it travels in WorkerConfig)."""

    calling: dict[str, tuple[Network, ...]] | None = None   # None: any calling AE title
    called: str | None = None                                # required called AE title, or None
    per_aet: int | None = None       # --max-associations-per-aet: counted node-wide by the supervisor

    def check(self, calling: str, called: str, peer: str) -> Refusal | None:
        if self.called is not None and ae_title(called) != self.called:
            return Refusal(RJ_CALLED_AE, "called-aet", f"called AE title {called!r} is not {self.called!r}")
        if self.calling is not None:
            title = ae_title(calling)
            if title not in self.calling:
                return Refusal(RJ_CALLING_AE, "calling-aet", f"calling AE title {calling!r} not in --calling-aets")
            networks = self.calling[title]
            if networks and not address_in(peer, networks):
                return Refusal(RJ_CALLING_AE, "calling-aet-host",
                               f"calling AE title {calling!r} not allowed from {peer}")
        return None


def policy_from_options(options) -> AccessPolicy | None:
    """The policy, or None when no access option is given; ValueError for a bad list."""
    calling = getattr(options, "calling_aets", None)
    require = getattr(options, "require_called_aet", False)
    per_aet = getattr(options, "max_associations_per_aet", None)
    if calling is None and not require and per_aet is None:
        return None
    return AccessPolicy(parse_calling_aets(calling) if calling is not None else None,
                        ae_title(options.aetitle) if require else None, per_aet)


def option_problem(options) -> str | None:
    """The command-line error for the access options, or None (checked once at start-up)."""
    if getattr(options, "peer_hosts", None) is not None:
        try:
            parse_networks(options.peer_hosts, "--peer-hosts")
        except ValueError as exc:
            return str(exc)
    if getattr(options, "require_called_aet", False) and options.use_called_aetitle:
        return "--require-called-aet not allowed with --use-called-aetitle"
    try:
        policy_from_options(options)
    except ValueError as exc:
        return str(exc)
    return None
