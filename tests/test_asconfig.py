"""Association config files (``-xf FILE PROFILE``): our parser against the real dcmrecv 3.6.7.

Oracles: ``/usr/bin/dcmrecv`` (a config error exits 66 before listening; a good config gets as far
as the output-directory check and exits 45 because we pass a missing directory, so nothing is left
running), ``libdcmdata``'s ``dcmFindUIDFromName`` for the name table, and one real association
against ``dcmrecv -xf storescp.cfg Default`` for the negotiation rules.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from dcmrecv_cluster.shared.asconfig import (
    VERIFICATION_ONLY,
    AssociationConfigError,
    AssociationProfile,
    PresentationContextSpec,
    load_profile,
)
from dcmrecv_cluster.shared.default_profile import (
    IMAGE_TRANSFER_SYNTAXES,
    NON_IMAGE_TRANSFER_SYNTAXES,
    default_profile,
)
from dcmrecv_cluster.shared.uidnames import DCMTK_UID_NAMES, is_valid_uid, lookup_symbolic_uid
from dcmrecv_cluster.workers.acse import AssociateRequest
from dcmrecv_cluster.workers.negotiation import Negotiator

from .support.imports import heavy_imports_of
from .support.net import free_port
from .support.tools import DCMRECV, STORESCP_CFG

#: DCMTK's name table (Appendices B and C of the dcmrecv 3.6.7 behaviour reference), kept with the tests.
REFERENCE = Path(__file__).with_name("data") / "dcmtk-uid-names.md"

IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
JPEG2000 = "1.2.840.10008.1.2.4.91"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"

needs_dcmrecv = pytest.mark.skipif(not os.access(DCMRECV, os.X_OK), reason="DCMTK dcmrecv not installed")


# --------------------------------------------------------------------------- helpers


def parse_log(stderr: bytes) -> list[tuple[str, str]]:
    """dcmrecv's stderr as (level, text) lines; only '\\n' separates lines (values may hold CR/VT)."""
    text = stderr.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [tuple(line.split(": ", 1)) if ": " in line else (line.rstrip(":"), "") for line in lines]


def dcmrecv_verdict(path: str, profile: str, missing_dir: Path) -> tuple[int, list[tuple[str, str]]]:
    """Exit code and log of the real dcmrecv for ``-xf path profile`` (stops before listening)."""
    proc = subprocess.run(
        [DCMRECV, "-od", str(missing_dir), "-xf", path, profile, str(free_port())],
        capture_output=True,
        timeout=20,
    )
    return proc.returncode, parse_log(proc.stderr)


def our_verdict(path: str, profile: str) -> tuple[int, list[tuple[str, str]]]:
    """What dcmrecv-cluster would print/exit for the same arguments (log as dcmrecv's only)."""
    try:
        load_profile(path, profile)
    except AssociationConfigError as err:
        return err.exit_code, err.dcmtk_log_lines
    return 45, [("F", "cannot specify output directory: Directory does not exist")]


TS = "[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 = LittleEndianImplicit\nTransferSyntax2 = LocalEndianExplicit\n"
PC = "[[PresentationContexts]]\n[PC]\nPresentationContext1 = 1.2.3\\Unc\n"
PROF = "[[Profiles]]\n[P]\nPresentationContexts = PC\n"


def cfg(ts: str = TS, pc: str = PC, extra: str = "", prof: str = PROF) -> str:
    return ts + pc + extra + prof


def pc_file(*entries: str) -> str:
    body = "".join(f"PresentationContext{i} = {e}\n" for i, e in enumerate(entries, 1))
    return cfg(pc="[[PresentationContexts]]\n[PC]\n" + body)


ROLE = "[[SCPSCURoleSelection]]\n[R]\n"
EN = "[[ExtendedNegotiation]]\n[E]\n"
PROF_R = PROF + "SCPSCURoleSelection = R\n"
PROF_E = PROF + "ExtendedNegotiation = E\n"

# name -> (file content (str or bytes), profile).  Every §10.4 error, plus lexical quirks whose
# effect shows in dcmrecv's verdict or message.
CASES: dict[str, tuple[str | bytes, str]] = {
    # --- structure
    "ok-minimal": (cfg(), "P"),
    "no-ts-super": (PC + PROF, "P"),
    "no-pc-super": (TS + PROF, "P"),
    "no-profiles-super": (TS + PC, "P"),
    "empty-file": ("", "P"),
    "unknown-profile": (cfg(), "NoSuch"),
    "profile-mangled": (cfg(prof="[[Profiles]]\n[My Profile]\nPresentationContexts = PC\n"), "my profile"),
    "profile-blank-name": (cfg(), " "),
    "profile-empty-name": (cfg(), ""),
    "profile-empty-section-blank-name": (cfg(prof="[[Profiles]]\n[..]\nPresentationContexts = PC\n"), " "),
    "two-profiles": (cfg(prof=PROF + "[p]\nPresentationContexts = PC\n"), "P"),
    "no-presentationcontexts-entry": (cfg(prof="[[Profiles]]\n[P]\nFoo = PC\n"), "P"),
    "pc-key-undefined": (cfg(prof="[[Profiles]]\n[P]\nPresentationContexts = D\n"), "P"),
    "pc-key-with-dot": (
        cfg(pc="[[PresentationContexts]]\n[P.C]\nPresentationContext1 = 1.2.3\\Unc\n",
            prof="[[Profiles]]\n[P]\nPresentationContexts = P.C\n"),
        "P",
    ),
    "pc-key-spaces-lowercase": (cfg(prof="[[Profiles]]\n[P]\nPresentationContexts = p c\n"), "P"),
    # --- transfer syntaxes
    "ts-bad-name": (cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 = ImplicitVRLittleEndian\n"), "P"),
    "ts-trailing-blank": (cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 = LittleEndianImplicit  \n"), "P"),
    "ts-empty-value": (cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 =\n[Other]\nTransferSyntax1 = 1.2\n"), "P"),
    "ts-empty-then-continuation": (
        cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 =\n   LittleEndianImplicit\n"), "P"),
    "ts-key-undefined": (pc_file("1.2.3\\X"), "P"),
    "ts-key-empty": (pc_file("1.2.3\\"), "P"),
    "ts-gap-hides-rest": (cfg(ts=TS + "TransferSyntax4 = Bogus\n"), "P"),
    "ts-duplicate-key-first-wins": (cfg(ts=TS + "TransferSyntax1 = Bogus\n"), "P"),
    "ts-second-section-same-name": (cfg(ts=TS + "[U n c]\nTransferSyntax1 = Bogus\n"), "P"),
    "ts-second-super-ignored": (
        cfg(ts=TS + "[[TransferSyntaxes]]\n[B]\nTransferSyntax1 = 1.2\n",
            pc="[[PresentationContexts]]\n[PC]\nPresentationContext1 = 1.2.3\\B\n"),
        "P",
    ),
    "ts-equals-prefix": (cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 = =LittleEndianImplicit\n"), "P"),
    "ts-equals-prefix-uid": (cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 = =1.2.840.10008.1.2\n"), "P"),
    "ts-opposite-endian": (cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 = OppositeEndianExplicit\n"), "P"),
    # --- presentation contexts
    "pc-bad-abstract-syntax": (pc_file("FooStorage\\Unc"), "P"),
    "pc-pydicom-only-name": (pc_file("Verification\\Unc"), "P"),
    "pc-space-before-backslash": (pc_file("CTImageStorage \\Unc"), "P"),
    "pc-space-after-backslash-ok": (pc_file("CTImageStorage\\ u n c"), "P"),
    "pc-empty-abstract-syntax": (pc_file("\\Unc"), "P"),
    "pc-missing-backslash": (pc_file("1.2.3"), "P"),
    "pc-empty-section-name": (
        cfg(pc="[[PresentationContexts]]\n[...]\nPresentationContext1 = 1.2.3\\Unc\n"), "P"),
    "pc-gap-hides-rest": (cfg(pc=PC + "PresentationContext3 = FooStorage\\Unc\n"), "P"),
    "pc-duplicate-abstract-syntax": (pc_file("1.2.3\\Unc", "1.2.3\\Unc"), "P"),
    "pc-duplicate-by-name": (pc_file("VerificationSOPClass\\Unc", "1.2.840.10008.1.1\\Unc"), "P"),
    "pc-128-ok": (pc_file(*(f"1.2.{i}\\Unc" for i in range(1, 129))), "P"),
    "pc-129-too-long": (pc_file(*(f"1.2.{i}\\Unc" for i in range(1, 130))), "P"),
    "pc-129-across-two-sections": (
        cfg(pc="[[PresentationContexts]]\n[PC]\n"
            + "".join(f"PresentationContext{i} = 1.2.{i}\\Unc\n" for i in range(1, 101))
            + "[pc]\n"
            + "".join(f"PresentationContext{i} = 1.3.{i}\\Unc\n" for i in range(1, 30))),
        "P",
    ),
    # --- roles
    "role-ok": (cfg(extra=ROLE + "Role1 = 1.2.3\\scp\n", prof=PROF_R), "P"),
    "role-unknown-key": (cfg(extra=ROLE + "Role1 = 1.2.3\\ SCU\n", prof=PROF_R), "P"),
    "role-unknown-key-before-bad-uid": (cfg(extra=ROLE + "Role1 = Foo\\X\n", prof=PROF_R), "P"),
    "role-bad-uid": (cfg(extra=ROLE + "Role1 = Foo\\SCU\n", prof=PROF_R), "P"),
    "role-twice": (cfg(extra=ROLE + "Role1 = 1.2.3\\scu\nRole2 = 1.2.3\\Both\n", prof=PROF_R), "P"),
    "role-not-in-pc-list": (cfg(extra=ROLE + "Role1 = 1.2.4\\BOTH\n", prof=PROF_R), "P"),
    "role-key-undefined": (cfg(prof=PROF_R), "P"),
    "role-missing-backslash": (cfg(extra=ROLE + "Role1 = 1.2.3\n"), "P"),
    "role-unused-list-still-checked": (cfg(extra=ROLE + "Role1 = 1.2.3\\nope\n"), "P"),
    "role-empty-reference": (cfg(extra=ROLE + "Role1 = 1.2.3\\SCU\n", prof=PROF + "SCPSCURoleSelection =\n"), "P"),
    # --- extended negotiation
    "extneg-ok": (cfg(extra=EN + "ExtendedNegotiation1 = 1.2.3\\0102aB\n", prof=PROF_E), "P"),
    "extneg-odd": (cfg(extra=EN + "ExtendedNegotiation1 = 1.2.3\\010\n", prof=PROF_E), "P"),
    "extneg-nonhex": (cfg(extra=EN + "ExtendedNegotiation1 = 1.2.3\\01zz\n", prof=PROF_E), "P"),
    "extneg-empty": (cfg(extra=EN + "ExtendedNegotiation1 = 1.2.3\\\n", prof=PROF_E), "P"),
    "extneg-1023-bytes-ok": (cfg(extra=EN + "ExtendedNegotiation1 = 1.2.3\\" + "ab" * 1023 + "\n", prof=PROF_E), "P"),
    "extneg-1024-bytes-too-long": (cfg(extra=EN + "ExtendedNegotiation1 = 1.2.3\\" + "ab" * 1024 + "\n"), "P"),
    "extneg-not-in-pc-list": (cfg(extra=EN + "ExtendedNegotiation1 = 1.2.4\\0102\n", prof=PROF_E), "P"),
    "extneg-twice": (cfg(extra=EN + "ExtendedNegotiation1 = 1.2.3\\01\nExtendedNegotiation2 = 1.2.3\\02\n"), "P"),
    "extneg-key-undefined": (cfg(prof=PROF_E), "P"),
    "extneg-missing-backslash": (cfg(extra=EN + "ExtendedNegotiation1 = 1.2.3\n"), "P"),
    "extneg-bad-uid": (cfg(extra=EN + "ExtendedNegotiation1 = Foo\\01\n"), "P"),
    # --- lexical rules (OFConfigFile)
    "lex-mangled-super-and-keys": (
        "[[ transfer syntaxes ]]\n[ u.n.c ]\ntransfer syntax 1 = LittleEndianImplicit\n"
        "[[Presentation Contexts]]\n[PC]\npresentationcontext1=1.2.3\\unc\n"
        "[[PROFILES]]\n[p]\npresentationContexts=pc\n",
        "p",
    ),
    "lex-dash-kept-in-keyword": (cfg(ts="[[Transfer-Syntaxes]]\n[Unc]\nTransferSyntax1 = 1.2\n"), "P"),
    "lex-continuation": (cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 = Foo\n   Bar  \n\tBaz\n"), "P"),
    "lex-comment-inside-continuation": (
        cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 = Foo\n# hidden\n  Bar\n"), "P"),
    "lex-indented-hash-is-not-comment": (
        cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 = Foo\n  # visible\n"), "P"),
    "lex-hash-mid-value": (
        cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 = 1.2.840.10008.1.2 # implicit\n"), "P"),
    "lex-comment-lines": ("# head\n#[[TransferSyntaxes]]\n" + cfg(), "P"),
    "lex-key-without-equals-swallows-next": (
        cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 LittleEndianImplicit\nTransferSyntax2 = Bogus\n"), "P"),
    "lex-missing-close-bracket-swallows-section": (
        "[[TransferSyntaxes]\n[Unc]\nTransferSyntax1 = 1.2\n" + PC + PROF, "P"),
    "lex-triple-bracket": (cfg(prof="[[[Profiles]]]\n[P]\nPresentationContexts = PC\n"), "P"),
    "lex-entry-before-section-dropped": ("TransferSyntax1 = Bogus\n[Unc]\nTransferSyntax1 = Bogus\n" + cfg(), "P"),
    "lex-crlf": (cfg().replace("\n", "\r\n"), "P"),
    "lex-cr-only": (cfg().replace("\n", "\r"), "P"),
    "lex-cr-only-continuation": (
        cfg(ts="[[TransferSyntaxes]]\r[Unc]\rTransferSyntax1 = Foo\r  Bar\r"), "P"),
    "lex-nul-becomes-blank": (cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 = 1.2\x003\n"), "P"),
    "lex-utf8-bom": ("\ufeff" + cfg(), "P"),
    "lex-no-final-newline": (cfg().rstrip("\n"), "P"),
    "lex-keyword-at-eof": (cfg() + "SCPSCURoleSelection", "P"),  # stored with an empty value
    "lex-latin1-value": (cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 = K\xe4se\n").encode("latin-1"), "P"),
    "lex-utf8-value": (cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 = Käse\n"), "P"),
}


# --------------------------------------------------------------------------- differential tests


@needs_dcmrecv
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_verdict_and_messages_as_dcmrecv(name: str, tmp_path: Path) -> None:
    content, profile = CASES[name]
    path = tmp_path / f"{name}.cfg"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    expected = dcmrecv_verdict(str(path), profile, tmp_path / "missing")
    assert our_verdict(str(path), profile) == expected


@needs_dcmrecv
@pytest.mark.parametrize(
    "path_kind, profile",
    [("missing", "Default"), ("directory", "Default"), ("empty-name", "Default"), ("storescp", "default"),
     ("storescp", "All DICOM"), ("storescp", "NoSuch"), ("storescp", "")],
)
def test_file_and_profile_arguments_like_dcmrecv(path_kind: str, profile: str, tmp_path: Path) -> None:
    path = {"missing": str(tmp_path / "nope.cfg"), "directory": str(tmp_path), "empty-name": "",
            "storescp": STORESCP_CFG}[path_kind]
    assert our_verdict(path, profile) == dcmrecv_verdict(path, profile, tmp_path / "missing")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read anything")
@needs_dcmrecv
def test_unreadable_file_like_dcmrecv(tmp_path: Path) -> None:
    path = tmp_path / "secret.cfg"
    path.write_text(cfg())
    path.chmod(0)
    assert our_verdict(str(path), "P") == dcmrecv_verdict(str(path), "P", tmp_path / "missing")


# --------------------------------------------------------------------------- error object


def test_error_log_lines_add_our_location_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.cfg"
    path.write_text(pc_file("1.2.3\\Unc", "FooStorage\\Unc"))
    with pytest.raises(AssociationConfigError) as info:
        load_profile(str(path), "P")
    err = info.value
    assert str(err) == "not a valid abstract syntax UID: FooStorage"
    assert err.exit_code == 66
    assert err.log_lines == [
        ("E", f"Unable to parse association configuration file: {path}: not a valid abstract syntax UID: FooStorage"),
        ("E", f"{path}, line 8: section [[PRESENTATIONCONTEXTS]] [PC], key PRESENTATIONCONTEXT2"),
        ("F", "cannot load association configuration: not a valid abstract syntax UID: FooStorage"),
    ]


def test_duplicate_abstract_syntax_error_names_both_entries(tmp_path: Path) -> None:
    path = tmp_path / "dup.cfg"
    path.write_text(pc_file("1.2.3\\Unc", "1.2.4\\Unc", "1.2.3\\Unc"))
    with pytest.raises(AssociationConfigError) as info:
        load_profile(str(path), "p")
    err = info.value
    assert str(err) == "Invalid or non-existing SCP Association Profile"
    assert err.log_lines[0] == ("E", 'The association profile named "p" is not a valid SCP association profile')
    assert "PRESENTATIONCONTEXT1 and PRESENTATIONCONTEXT3" in err.log_lines[1][1]
    assert err.log_lines[-1] == (
        "F", "cannot load association configuration: Invalid or non-existing SCP Association Profile")


def test_multiline_value_is_logged_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "ml.cfg"
    path.write_text(cfg(ts="[[TransferSyntaxes]]\n[Unc]\nTransferSyntax1 = Foo\n  Bar\n"))
    with pytest.raises(AssociationConfigError) as info:
        load_profile(str(path), "P")
    assert str(info.value) == "not a valid transfer syntax UID: Foo\nBar"
    assert info.value.dcmtk_log_lines[1:] == [
        ("E", "Bar"),
        ("F", "cannot load association configuration: not a valid transfer syntax UID: Foo"),
        ("F", "Bar"),
    ]


# --------------------------------------------------------------------------- storescp.cfg


def _reference_any_ts() -> list[str]:
    names = ["JPEG2000", "JPEG2000LosslessOnly", "JPEGExtended:Process2+4", "JPEGBaseline",
             "JPEGLossless:Non-hierarchical-1stOrderPrediction", "JPEGLSLossy", "JPEGLSLossless", "RLELossless",
             "MPEG2MainProfile@MainLevel", "MPEG2MainProfile@HighLevel", "MPEG4HighProfile/Level4.1",
             "MPEG4BDcompatibleHighProfile/Level4.1", "MPEG4HighProfile/Level4.2For2DVideo",
             "MPEG4HighProfile/Level4.2For3DVideo", "MPEG4StereoHighProfile/Level4.2", "HEVCMainProfile/Level5.1",
             "HEVCMain10Profile/Level5.1"]
    return [DCMTK_UID_NAMES[n] for n in names] + [DEFLATED, EXPLICIT_LE, EXPLICIT_BE, IMPLICIT]


def test_storescp_cfg_default_profile() -> None:
    prof = load_profile(STORESCP_CFG, "Default")
    assert prof.name == "DEFAULT"
    assert len(prof.contexts) == 128
    assert prof.contexts[0] == PresentationContextSpec(VERIFICATION, (EXPLICIT_LE, EXPLICIT_BE, IMPLICIT))
    any_ts = tuple(_reference_any_ts())
    zlib = (DEFLATED, EXPLICIT_LE, EXPLICIT_BE, IMPLICIT)
    assert sum(c.transfer_syntaxes == any_ts for c in prof.contexts) == 54
    assert sum(c.transfer_syntaxes == zlib for c in prof.contexts) == 73
    assert prof.find(CT).transfer_syntaxes == any_ts
    assert prof.find(BASIC_TEXT_SR).transfer_syntaxes == zlib
    assert prof.find("1.2.840.10008.5.1.4.1.1.6") is not None  # RETIRED_UltrasoundImageStorage
    assert prof.find("1.2.840.10008.5.1.4.1.1.88.1") is not None  # DRAFT_SRTextStorage
    assert all(c.role is None and c.extended_negotiation is None for c in prof.contexts)


def test_storescp_cfg_alldicom_profile() -> None:
    prof = load_profile(STORESCP_CFG, "all dicom")
    assert prof.name == "ALLDICOM"
    assert len(prof.contexts) == 128
    assert len({c.abstract_syntax for c in prof.contexts}) == 128
    assert prof.find("1.2.840.10008.5.1.4.1.1.13.1.4") is not None  # BreastProjectionXRay...ForPresentation
    assert prof.find("1.2.840.10008.5.1.4.1.1.30").transfer_syntaxes == tuple(_reference_any_ts())  # ParametricMap
    assert prof.find("1.2.840.10008.5.1.4.1.1.6") is None  # retired classes dropped
    assert prof.find("1.2.840.10008.5.1.4.1.1.501.1") is None  # DICOS did not fit


def test_roles_and_extended_negotiation_reach_the_profile(tmp_path: Path) -> None:
    path = tmp_path / "re.cfg"
    path.write_text(
        pc_file("1.2.3\\Unc", "CTImageStorage\\Unc")
        .replace(PROF, "")
        + ROLE + "Role1 = CTImageStorage\\Both\nRole2 = 1.2.3\\scp\n"
        + EN + "ExtendedNegotiation1 = 1.2.3\\00FF\n"
        + "[[Profiles]]\n[P]\nPresentationContexts = PC\nSCPSCURoleSelection = R\nExtendedNegotiation = E\n"
    )
    prof = load_profile(str(path), "P")
    assert prof.contexts == (
        PresentationContextSpec("1.2.3", (IMPLICIT, EXPLICIT_LE), "SCP", b"\x00\xff"),
        PresentationContextSpec(CT, (IMPLICIT, EXPLICIT_LE), "BOTH", None),
    )


def test_lexing_details(tmp_path: Path) -> None:
    path = tmp_path / "lex.cfg"
    path.write_bytes(
        b"# comment\r\n[[ Transfer Syntaxes ]]\r\n[any.ts]\r\ntransfer syntax 1 = JPEGBaseline\r\n"
        b"TransferSyntax2 = \r\n  =LittleEndianImplicit\r\nTransferSyntax4 = Bogus\r\n"
        b"[[PresentationContexts]]\n[P C]\nPresentationContext1 = MRImageStorage\\\n  Any TS\n"
        b"[[Profiles]]\n[x y]\nPresentationContexts = p\n c\n"
    )
    prof = load_profile(str(path), " X Y ")
    assert prof.contexts == (PresentationContextSpec(MR, (JPEG_BASELINE, IMPLICIT)),)


# --------------------------------------------------------------------------- name table


def _libdcmdata():
    name = ctypes.util.find_library("dcmdata") or "libdcmdata.so.17"
    try:
        lib = ctypes.CDLL(name)
        find = lib._Z18dcmFindUIDFromNamePKc
        name_of = lib._Z16dcmFindNameOfUIDPKcS0_
    except (OSError, AttributeError):
        pytest.skip("libdcmdata with dcmFindUIDFromName not available")
    find.restype, find.argtypes = ctypes.c_char_p, [ctypes.c_char_p]
    name_of.restype, name_of.argtypes = ctypes.c_char_p, [ctypes.c_char_p, ctypes.c_char_p]
    return (lambda n: (find(n.encode()) or b"").decode() or None,
            lambda u: (name_of(u.encode(), None) or b"").decode() or None)


def test_name_table_matches_libdcmdata() -> None:
    find_uid, find_name = _libdcmdata()
    assert len(DCMTK_UID_NAMES) == 436
    for name, uid in DCMTK_UID_NAMES.items():
        assert find_uid(name) == uid, name
    # every UID pydicom publishes that DCMTK names must be in our table under DCMTK's name
    import pydicom.uid

    for uid in {str(v) for v in vars(pydicom.uid).values() if isinstance(v, pydicom.uid.UID)}:
        dcmtk_name = find_name(uid)
        if dcmtk_name is not None:
            assert DCMTK_UID_NAMES.get(dcmtk_name) == uid, (uid, dcmtk_name)
        # a pydicom keyword resolves here exactly when DCMTK resolves it
        keyword = pydicom.uid.UID(uid).keyword
        if keyword:
            assert DCMTK_UID_NAMES.get(keyword) == find_uid(keyword), keyword


def test_names_shared_with_pydicom_have_pydicom_s_uids() -> None:
    import pydicom.uid

    from dcmrecv_cluster.shared.uidnames import _SAME_AS_PYDICOM

    assert {name: str(getattr(pydicom.uid, name, None)) for name in _SAME_AS_PYDICOM} == _SAME_AS_PYDICOM


def test_the_supervisor_resolves_names_without_pydicom() -> None:
    code = ("from dcmrecv_cluster.shared import uidnames\n"
            "assert uidnames.lookup_symbolic_uid('CTImageStorage') == '1.2.840.10008.5.1.4.1.1.2'")
    assert heavy_imports_of(code) == []


def test_name_table_matches_reference_appendices() -> None:
    text = REFERENCE.read_text()
    rows = re.findall(r"^\|(?:[^|\n]*\|)?\s*`([^`]+)`\s*\|\s*`([0-9.]+)`\s*\|\s*$",
                      text[text.index("## Appendix B"):], re.M)
    assert dict(rows) == dict(DCMTK_UID_NAMES)


def test_all_storescp_cfg_names_resolve_like_dcmtk() -> None:
    find_uid, _ = _libdcmdata()
    content = Path(STORESCP_CFG).read_text()
    names = set(re.findall(r"^\w+\s*=\s*([^\s\\]+)", content, re.M)) - {"GenericStorageSCP", "AllDICOMStorageSCP"}
    names -= {"LocalEndianExplicit", "OppositeEndianExplicit"}
    assert len(names) == 167  # + the two special names = 169
    for name in names:
        assert lookup_symbolic_uid(name) == find_uid(name), name


def test_special_names_and_syntax_check() -> None:
    assert lookup_symbolic_uid("LocalEndianExplicit") == EXPLICIT_LE  # little-endian host
    assert lookup_symbolic_uid("=OppositeEndianExplicit") == EXPLICIT_BE
    assert lookup_symbolic_uid("=CTImageStorage") == CT
    assert lookup_symbolic_uid("ctimagestorage") == "ctimagestorage"  # case-sensitive
    assert lookup_symbolic_uid("=1.2.3") == "=1.2.3"
    assert lookup_symbolic_uid("1.2.3") == "1.2.3"
    assert is_valid_uid("1.2..3") and not is_valid_uid("") and not is_valid_uid("1.2 ")


# --------------------------------------------------------------------------- negotiation


def _profile(*specs: PresentationContextSpec) -> AssociationProfile:
    return AssociationProfile("T", specs)


def negotiate(profile: AssociationProfile, proposed, roles=None) -> list[tuple[int, int, str | None]]:
    """The workers' engine on a request of only these contexts (and role items): what production answers."""
    request = AssociateRequest(contexts=[(cid, a, list(s)) for cid, a, s in proposed], roles=dict(roles or {}))
    return Negotiator(profile).answer(request).results


def test_negotiate_rules() -> None:
    prof = _profile(
        PresentationContextSpec(CT, (JPEG2000, EXPLICIT_LE, IMPLICIT)),
        PresentationContextSpec(CT, (IMPLICIT,)),  # shadowed: first entry wins
        PresentationContextSpec(MR, (EXPLICIT_LE,), role="SCP"),
        PresentationContextSpec(VERIFICATION, (IMPLICIT,), role="BOTH"),
    )
    proposed = [
        (1, CT, [IMPLICIT, EXPLICIT_LE, JPEG2000]),  # SCP order wins
        (3, CT, [IMPLICIT]),
        (5, CT, [JPEG_BASELINE]),
        (7, "1.2.3.4", [IMPLICIT]),
        (9, MR, [EXPLICIT_LE]),  # role SCP, proposed with default role
        (11, MR, [IMPLICIT]),  # TS check comes first
        (13, VERIFICATION, [IMPLICIT]),
    ]
    assert negotiate(prof, proposed) == [
        (1, 0, JPEG2000), (3, 0, IMPLICIT), (5, 4, None), (7, 3, None), (9, 2, None), (11, 4, None),
        (13, 0, IMPLICIT),
    ]
    # proposed with an SCP role item it is accepted, and the answer grants the SCP role only
    assert negotiate(prof, [(9, MR, [EXPLICIT_LE])], roles={MR: (0, 1)}) == [(9, 0, EXPLICIT_LE)]
    answer = Negotiator(prof).answer(AssociateRequest(contexts=[(9, MR, [EXPLICIT_LE])], roles={MR: (1, 1)}))
    assert answer.roles == [(MR, 0, 1)] and answer.accepted == {9: EXPLICIT_LE}


def test_verification_only_profile() -> None:
    assert negotiate(VERIFICATION_ONLY, [(1, VERIFICATION, [EXPLICIT_LE, IMPLICIT]), (3, CT, [IMPLICIT])]) == [
        (1, 0, IMPLICIT), (3, 3, None)]
    assert negotiate(VERIFICATION_ONLY, [(1, VERIFICATION, [EXPLICIT_LE])]) == [(1, 4, None)]


@needs_dcmrecv
def test_negotiation_matches_real_dcmrecv(tmp_path: Path) -> None:
    """One association against ``dcmrecv -xf storescp.cfg Default`` decides the same as our ``Negotiator``."""
    from pynetdicom import AE

    proposals = [
        (VERIFICATION, [IMPLICIT]),
        (CT, [IMPLICIT, EXPLICIT_LE, JPEG2000, JPEG_BASELINE]),
        (CT, [IMPLICIT, EXPLICIT_BE]),
        (MR, ["1.2.840.10008.1.2.4.201"]),  # HTJ2K: not in AnyTransferSyntax
        (BASIC_TEXT_SR, [JPEG2000, IMPLICIT, DEFLATED]),
        ("1.2.826.0.1.3680043.2.1143.99", [IMPLICIT]),  # unknown SOP class
        ("1.2.840.10008.5.1.4.1.1.501.1", [IMPLICIT]),  # DICOS CT: did not fit in the 128
    ]
    port = free_port()
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen([DCMRECV, "-od", str(out), "-xf", STORESCP_CFG, "Default", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "dcmrecv did not start listening"
                time.sleep(0.02)
        ae = AE()
        for abstract, syntaxes in proposals:
            ae.add_requested_context(abstract, syntaxes)
        assoc = ae.associate("127.0.0.1", port)
        assert assoc.is_established
        seen = {cx.context_id: (cx.result, cx.transfer_syntax[0] if cx.result == 0 else None)
                for cx in assoc.accepted_contexts + assoc.rejected_contexts}
        assoc.release()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    ours = negotiate(load_profile(STORESCP_CFG, "Default"),
                     [(2 * i + 1, a, s) for i, (a, s) in enumerate(proposals)])
    assert {cid: (res, ts) for cid, res, ts in ours} == seen


# --------------------------------------------------------------------------- embedded profile


def test_default_profile_contents() -> None:
    from pynetdicom import AllStoragePresentationContexts

    prof = default_profile()
    assert prof is default_profile()
    assert prof.contexts[0] == PresentationContextSpec(VERIFICATION, (IMPLICIT, EXPLICIT_LE, EXPLICIT_BE))
    storage = {str(c.abstract_syntax) for c in AllStoragePresentationContexts}
    assert {c.abstract_syntax for c in prof.contexts[1:]} == storage
    assert prof.find(CT).transfer_syntaxes == IMAGE_TRANSFER_SYNTAXES
    assert prof.find("1.2.840.10008.5.1.4.1.1.66.4").transfer_syntaxes == IMAGE_TRANSFER_SYNTAXES  # Segmentation
    assert prof.find(BASIC_TEXT_SR).transfer_syntaxes == NON_IMAGE_TRANSFER_SYNTAXES
    assert IMAGE_TRANSFER_SYNTAXES[:2] == (JPEG2000, "1.2.840.10008.1.2.4.90")
    assert IMAGE_TRANSFER_SYNTAXES[-4:] == NON_IMAGE_TRANSFER_SYNTAXES == (DEFLATED, EXPLICIT_LE, EXPLICIT_BE, IMPLICIT)
    assert len(set(IMAGE_TRANSFER_SYNTAXES)) == len(IMAGE_TRANSFER_SYNTAXES)
    # compressed data proposed together with uncompressed stays compressed
    assert negotiate(prof, [(1, CT, [EXPLICIT_LE, JPEG_BASELINE])]) == [(1, 0, JPEG_BASELINE)]
