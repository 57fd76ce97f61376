"""Association profiles answered exactly as dcmrecv answers them.

Each case runs the same sender invocation (DCMTK storescu/dcmsend, or a pynetdicom SCU for role
selection and extended negotiation) once against DCMTK's dcmrecv and once against
dcmrecv-cluster, both with the same ``-xf FILE PROFILE``, through a small recording TCP proxy. The
A-ASSOCIATE-AC/RJ each receiver sent is decoded with pynetdicom and compared field by field; only
our implementation class UID and version name may differ. The ``+v`` dumps are compared line by
line the same way.

``python -m tests.test_profiles`` (not a test; from the repository root) prints the worker CPU one association costs.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from .support.instances import CT_IMAGE, MR_IMAGE, SC_IMAGE, make_instance
from .support.net import free_port
from .support.service import BIN, Receiver, wait_until
from .support.tools import STORESCP_CFG, dcmtk

PRIVATE = "1.2.826.0.1.3680043.9.9999.1"
VERIFICATION = "1.2.840.10008.1.1"
EXPLICIT_LE, IMPLICIT_LE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"
OUR_IMPLEMENTATION_LINES = ("Our Implementation Class UID:", "Our Implementation Version Name:")

ROLES_CFG = r"""
[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = LocalEndianExplicit
TransferSyntax2 = LittleEndianImplicit

[[PresentationContexts]]
[Contexts]
PresentationContext1 = VerificationSOPClass\Uncompressed
PresentationContext2 = CTImageStorage\Uncompressed
PresentationContext3 = MRImageStorage\Uncompressed
PresentationContext4 = SecondaryCaptureImageStorage\Uncompressed
PresentationContext5 = 1.2.826.0.1.3680043.9.9999.1\Uncompressed

[[SCPSCURoleSelection]]
[Roles]
Role1 = CTImageStorage\SCU
Role2 = MRImageStorage\SCP
Role3 = SecondaryCaptureImageStorage\BOTH

[[ExtendedNegotiation]]
[ExtNeg]
ExtendedNegotiation1 = 1.2.826.0.1.3680043.9.9999.1\0a0b
ExtendedNegotiation2 = MRImageStorage\0102
ExtendedNegotiation3 = CTImageStorage\010203

[[Profiles]]
[Roles]
PresentationContexts = Contexts
SCPSCURoleSelection = Roles
ExtendedNegotiation = ExtNeg
"""

NOCT_CFG = r"""
[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = LittleEndianImplicit

[[PresentationContexts]]
[NoCT]
PresentationContext1 = VerificationSOPClass\Uncompressed
PresentationContext2 = MRImageStorage\Uncompressed

[[Profiles]]
[NoCT]
PresentationContexts = NoCT
"""


# --------------------------------------------------------------------------- recording proxy


class RecordingProxy:
    """Relays one connection at a time to ``port`` and keeps what each side sent first."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.upstream: list[bytearray] = []
        self.downstream: list[bytearray] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            up, down = bytearray(), bytearray()
            self.upstream.append(up)
            self.downstream.append(down)
            threading.Thread(target=self._pump, args=(client, server, up), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, down), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, record: bytearray) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if len(record) < 1 << 20:
                    record += data
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (sink, source):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def first_pdu(stream: bytes) -> bytes:
    pdu_type, length = struct.unpack(">BxL", stream[:6])
    assert len(stream) >= 6 + length, "incomplete PDU recorded"
    return bytes(stream[: 6 + length])


# --------------------------------------------------------------------------- decoding answers


def describe_pdu(raw: bytes) -> dict:
    """Every field of an A-ASSOCIATE-AC/RJ that must equal dcmrecv's (pynetdicom decodes it)."""
    from pynetdicom import pdu, pdu_items

    if raw[0] == 0x03:
        rj = pdu.A_ASSOCIATE_RJ()
        rj.decode(raw)
        return {"type": "RJ", "result": rj.result, "source": rj.source, "reason": rj.reason_diagnostic}
    assert raw[0] == 0x02, f"not an A-ASSOCIATE-AC/RJ: PDU type {raw[0]:#x}"
    ac = pdu.A_ASSOCIATE_AC()
    ac.decode(raw)
    user = {"max_length": None, "roles": [], "extended": [], "other": []}
    for item in ac.user_information.user_data:
        if isinstance(item, pdu_items.MaximumLengthSubItem):
            user["max_length"] = item.maximum_length_received
        elif isinstance(item, pdu_items.SCP_SCU_RoleSelectionSubItem):
            user["roles"].append((str(item.uid), item.scu_role, item.scp_role))
        elif isinstance(item, pdu_items.SOPClassExtendedNegotiationSubItem):
            user["extended"].append((str(item.sop_class_uid), item.service_class_application_information))
        elif not isinstance(item, (pdu_items.ImplementationClassUIDSubItem,
                                   pdu_items.ImplementationVersionNameSubItem)):
            user["other"].append(type(item).__name__)
    return {
        "type": "AC",
        "called": ac.called_ae_title,
        "calling": ac.calling_ae_title,
        "application_context": str(ac.application_context_name),
        "contexts": [(cx.context_id, cx.result_reason, str(cx.transfer_syntax) if cx.result_reason == 0 else None)
                     for cx in ac.presentation_context],
        "user_item_order": [item[0] for item in _user_item_types(raw)],
        **user,
    }


def _user_item_types(raw: bytes) -> list[tuple[int, int]]:
    """The user information sub-item types in wire order."""
    offset, found = 74, []
    while offset < len(raw):
        item_type, length = struct.unpack_from(">BxH", raw, offset)
        if item_type == 0x50:
            sub = offset + 4
            while sub < offset + 4 + length:
                sub_type, sub_length = struct.unpack_from(">BxH", raw, sub)
                found.append((sub_type, sub_length))
                sub += 4 + sub_length
        offset += 4 + length
    return found


# --------------------------------------------------------------------------- the receivers


class Pair:
    """dcmrecv and dcmrecv-cluster with the same arguments, each behind its own proxy."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.workdir = workdir
        self.receivers: dict[str, Receiver] = {}
        self.proxies: dict[str, RecordingProxy] = {}
        commands = {"dcmrecv": [dcmtk("dcmrecv")], "ours": [str(BIN / "dcmrecv-cluster"), "--workers", "1"]}
        for name, command in commands.items():
            out = workdir / f"out-{name}"
            out.mkdir(parents=True, exist_ok=True)
            self.receivers[name] = Receiver(["-od", str(out), *args], workdir, free_port(), command=command)
        for name, receiver in self.receivers.items():
            receiver.wait_ready()
            self.proxies[name] = RecordingProxy(receiver.port)

    def out(self, name: str) -> Path:
        return self.workdir / f"out-{name}"

    def run(self, sender) -> dict[str, dict]:
        """Run ``sender(port)`` against each receiver; return each one's answer and dumps."""
        seen = {}
        for name, proxy in self.proxies.items():
            receiver = self.receivers[name]
            log_start = len(receiver.log)
            count = len(proxy.downstream)
            sender(proxy.port)
            wait_until(lambda proxy=proxy, count=count: len(proxy.downstream) > count
                       and len(proxy.downstream[count]) >= 10,
                       10, 0.02, f"{name}'s answer")
            raw = wait_until(lambda proxy=proxy, count=count: _complete(proxy.downstream[count]), 10, 0.02,
                             f"{name}'s whole answer")
            request = first_pdu(proxy.upstream[count])
            seen[name] = {"answer": describe_pdu(raw), "raw": raw, "request": request,
                          "log": lambda r=receiver, s=log_start: r.log[s:]}
        return seen

    def stop(self) -> None:
        for proxy in self.proxies.values():
            proxy.close()
        for receiver in self.receivers.values():
            receiver.stop()


def _complete(stream: bytearray) -> bytes | None:
    if len(stream) < 6:
        return None
    length = struct.unpack_from(">L", stream, 2)[0]
    return first_pdu(stream) if len(stream) >= 6 + length else None


def assert_same_answer(seen: dict[str, dict], pdu_length: int = 16384) -> dict:
    theirs, ours = seen["dcmrecv"]["answer"], seen["ours"]["answer"]
    assert ours == theirs
    if ours["type"] == "AC":
        assert ours["max_length"] == pdu_length
    return ours


@pytest.fixture(scope="module")
def instances(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("instances")
    return {
        "ct": make_instance(folder / "ct.dcm", CT_IMAGE, rows=8, columns=8),
        "mr": make_instance(folder / "mr.dcm", MR_IMAGE, rows=8, columns=8, modality="MR"),
        "sc": make_instance(folder / "sc.dcm", SC_IMAGE, rows=8, columns=8, modality="OT"),
        "private": make_instance(folder / "private.dcm", PRIVATE, rows=8, columns=8, modality="OT"),
    }


@pytest.fixture(scope="module")
def default_pair(tmp_path_factory):
    pair = Pair(tmp_path_factory.mktemp("default"), "-v", "+v", "-xf", STORESCP_CFG, "Default")
    yield pair
    pair.stop()


@pytest.fixture(scope="module")
def roles_pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("roles")
    config = folder / "roles.cfg"
    config.write_text(ROLES_CFG)
    pair = Pair(folder, "-v", "+v", "-pdu", "65537", "-xf", str(config), "Roles")
    yield pair
    pair.stop()


def storescu(*options: str, files=()):
    def send(port: int) -> None:
        subprocess.run([dcmtk("storescu"), *options, "127.0.0.1", str(port), *map(str, files)],
                       capture_output=True, timeout=60)
    return send


def dcmsend(*args):
    """dcmsend with options (strings) and files (paths): options go first, as dcmsend wants."""
    options = [a for a in args if isinstance(a, str)]
    files = [str(a) for a in args if not isinstance(a, str)]

    def send(port: int) -> None:
        subprocess.run([dcmtk("dcmsend"), *options, "127.0.0.1", str(port), *files], capture_output=True, timeout=60)
    return send


# --------------------------------------------------------------------------- storescp.cfg


@pytest.mark.parametrize("options", [(), ("-xi",), ("-xb",), ("-xd",), ("-xs",), ("-R",)],
                         ids=["default", "xi", "xb", "xd", "xs", "R"])
def test_storescu_gets_dcmrecvs_answer(default_pair, instances, options):
    seen = default_pair.run(storescu(*options, files=[instances["ct"], instances["mr"]]))
    answer = assert_same_answer(seen)
    assert any(result == 0 for _, result, _ in answer["contexts"])


def test_dcmsend_gets_dcmrecvs_answer(default_pair, instances):
    seen = default_pair.run(dcmsend(instances["ct"], instances["sc"]))
    assert_same_answer(seen)


def test_alldicom_profile_and_nothing_acceptable(tmp_path, instances):
    """AllDICOM via dcmsend; then a profile without CT: the whole association is rejected alike."""
    pair = Pair(tmp_path, "-xf", STORESCP_CFG, "AllDICOM")
    try:
        assert_same_answer(pair.run(dcmsend(instances["ct"], instances["mr"])))
        assert_same_answer(pair.run(storescu("-xs", files=[instances["ct"]])))
    finally:
        pair.stop()
    config = tmp_path / "noct.cfg"
    config.write_text(NOCT_CFG)
    pair = Pair(tmp_path / "noct", "-xf", str(config), "NoCT")
    try:
        seen = pair.run(storescu("-R", files=[instances["ct"]]))
        assert assert_same_answer(seen) == {"type": "RJ", "result": 1, "source": 1, "reason": 1}
        # an application context other than DICOM's
        seen = pair.run(raw_request(application_context="1.2.3.4"))
        assert assert_same_answer(seen) == {"type": "RJ", "result": 2, "source": 1, "reason": 2}
    finally:
        pair.stop()


def raw_request(application_context: str = "1.2.840.10008.3.1.1.1",
                contexts=((VERIFICATION, [IMPLICIT_LE]),), roles=(), extended=()):
    """A hand-built A-ASSOCIATE-RQ: any application context, role items (even 0/0), ext-neg items.

    pynetdicom's SCU refuses to propose some of these (both roles 0), DCMTK's cannot propose roles.
    """
    def item(item_type: int, value: bytes) -> bytes:
        return struct.pack(">BxH", item_type, len(value)) + value

    def with_uid(uid: str, rest: bytes) -> bytes:
        return struct.pack(">H", len(uid)) + uid.encode() + rest

    items = [item(0x10, application_context.encode())]
    for n, (abstract, syntaxes) in enumerate(contexts):
        items.append(item(0x20, bytes((2 * n + 1, 0, 0, 0)) + item(0x30, abstract.encode())
                          + b"".join(item(0x40, ts.encode()) for ts in syntaxes)))
    user = [item(0x51, struct.pack(">L", 16384)), item(0x52, b"1.2.3")]
    user += [item(0x54, with_uid(uid, bytes(pair))) for uid, pair in roles]
    user += [item(0x55, b"RAW_SCU")]
    user += [item(0x56, with_uid(uid, data)) for uid, data in extended]
    items.append(item(0x50, b"".join(user)))
    body = b"\x00\x01\x00\x00" + b"ANY-SCP".ljust(16) + b"RAW".ljust(16) + bytes(32) + b"".join(items)
    pdu = struct.pack(">BxL", 1, len(body)) + body

    def send(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(pdu)
            try:
                answer = sock.recv(65536)
                if answer[:1] == b"\x02":
                    sock.sendall(bytes((5, 0, 0, 0, 0, 4, 0, 0, 0, 0)))  # A-RELEASE-RQ
                    sock.recv(64)
            except OSError:
                pass
    return send


# --------------------------------------------------------------------------- roles, extended negotiation


def pynetdicom_scu(contexts, roles=(), extended=()):
    """Propose ``contexts`` [(abstract syntax, [TS])] with role items {uid: (scu, scp)} and ext-neg items."""
    def send(port: int) -> None:
        from pynetdicom import AE, build_role
        from pynetdicom.pdu_primitives import SOPClassExtendedNegotiation

        ae = AE()
        ae.acse_timeout = ae.network_timeout = 5
        for uid, syntaxes in contexts:
            ae.add_requested_context(uid, syntaxes)
        items = [build_role(uid, scu_role=bool(scu), scp_role=bool(scp)) for uid, (scu, scp) in roles]
        for uid, data in extended:
            ext = SOPClassExtendedNegotiation()
            ext.sop_class_uid, ext.service_class_application_information = uid, data
            items.append(ext)
        assoc = ae.associate("127.0.0.1", port, ext_neg=items)
        if assoc.is_established:
            assoc.release()
        ae.shutdown()
    return send


UNCOMPRESSED = [EXPLICIT_LE, IMPLICIT_LE]
ROLE_CASES = {
    "all-roles-proposed": dict(roles=[(CT_IMAGE, (1, 1)), (MR_IMAGE, (0, 1)), (SC_IMAGE, (1, 0))],
                               extended=[(MR_IMAGE, b"\x05"), (CT_IMAGE, b"\x06\x07")]),
    "requestor-scp-only": dict(roles=[(CT_IMAGE, (0, 1)), (SC_IMAGE, (0, 1)), (MR_IMAGE, (1, 0))]),
    "both-zero": dict(roles=[(SC_IMAGE, (0, 0)), (CT_IMAGE, (1, 0))], extended=[(PRIVATE, b"\x01")]),
    "no-role-items": dict(),  # MR is configured SCP: proposed with the default role, refused (result 2)
}


@pytest.mark.parametrize("case", list(ROLE_CASES))
def test_role_selection_and_extended_negotiation(roles_pair, case):
    contexts = [(VERIFICATION, [IMPLICIT_LE]), (CT_IMAGE, UNCOMPRESSED), (MR_IMAGE, UNCOMPRESSED),
                (SC_IMAGE, [EXPLICIT_LE]), (PRIVATE, [IMPLICIT_LE]), ("1.2.3.4.5", UNCOMPRESSED)]
    sender = raw_request(contexts=contexts, **ROLE_CASES[case]) if case == "both-zero" else \
        pynetdicom_scu(contexts, **ROLE_CASES[case])
    seen = roles_pair.run(sender)
    answer = assert_same_answer(seen, pdu_length=65536)
    assert answer["extended"], "DCMTK answers the profile's extended negotiation for accepted classes"
    assert_same_dumps(seen)


def test_private_sop_class_is_received_and_stored(roles_pair, instances):
    seen = roles_pair.run(dcmsend("-nuc", instances["private"]))
    answer = assert_same_answer(seen, pdu_length=65536)
    assert [result for _, result, _ in answer["contexts"]] == [0]
    names = {}
    for name in ("dcmrecv", "ours"):
        out = roles_pair.out(name)
        names[name] = wait_until(lambda out=out: sorted(p.name for p in out.glob("*.*") if not p.name.startswith(".")),
                                 10, 0.05, f"{name} to store the instance")
    assert names["ours"] == names["dcmrecv"]


# --------------------------------------------------------------------------- +v dumps


_AROUND_DUMPS = tuple("I: " + text for text in (
    "Association Received", "Incoming Association Request:", "Association Acknowledged",
    "No Acceptable Presentation Contexts", "Refusing Association"))


_ROLE_MESSAGES = ("E: ASSOC: SCP/SCU role", "W: setting accepted SCP/SCU role", "W: DULFSM")


def _dumps(log: str) -> list[list[str]]:
    """The A-ASSOCIATE dump blocks of one association's log, plus the lines around them."""
    lines = log.splitlines()
    blocks, current = [], None
    for line in lines:
        if "BEGIN A-ASSOCIATE-" in line:
            current = []
        if current is not None:
            if not line.startswith(tuple(f"I: {prefix}" for prefix in OUR_IMPLEMENTATION_LINES)):
                current.append(line)
            if "END A-ASSOCIATE-" in line:
                blocks.append(current)
                current = None
        elif line.startswith(_AROUND_DUMPS) or line.startswith(_ROLE_MESSAGES):
            blocks.append([line.replace("localhost", "127.0.0.1")])
    return blocks


def assert_same_dumps(seen: dict[str, dict]) -> None:
    theirs = wait_until(lambda: _finished(seen["dcmrecv"]["log"]()), 10, 0.05, "dcmrecv's dump")
    ours = wait_until(lambda: _finished(seen["ours"]["log"]()), 10, 0.05, "our dump")
    expected = _dumps(theirs)
    kinds = [block[0].split("A-ASSOCIATE-")[1][:2] for block in expected if len(block) > 1]
    assert kinds in (["RQ", "AC"], ["RQ", "RJ"]), "dcmrecv's log holds no +v dump"
    assert _dumps(ours) == expected


def _finished(log: str) -> str | None:
    return log if ("END A-ASSOCIATE-AC" in log or "END A-ASSOCIATE-RJ" in log) else None


@pytest.mark.parametrize("options", [(), ("-xs",)], ids=["default", "xs"])
def test_verbose_pc_dumps_equal_dcmrecvs(default_pair, instances, options):
    seen = default_pair.run(storescu(*options, files=[instances["ct"]]))
    assert_same_dumps(seen)


def test_verbose_pc_dump_with_user_identity_and_extended_negotiation(roles_pair):
    from pynetdicom.pdu_primitives import UserIdentityNegotiation

    identity = UserIdentityNegotiation()
    identity.user_identity_type, identity.primary_field, identity.secondary_field = 2, b"bob", b"secret"
    identity.positive_response_requested = True

    def send(port: int) -> None:
        from pynetdicom import AE

        ae = AE()
        ae.acse_timeout = ae.network_timeout = 5
        ae.add_requested_context(VERIFICATION)
        ae.add_requested_context(PRIVATE, [IMPLICIT_LE])
        assoc = ae.associate("127.0.0.1", port, ext_neg=[identity])
        if assoc.is_established:
            assoc.release()
        ae.shutdown()

    assert_same_dumps(roles_pair.run(send))


def test_verbose_pc_dump_of_a_rejected_association(tmp_path, instances):
    config = tmp_path / "noct.cfg"
    config.write_text(NOCT_CFG)
    pair = Pair(tmp_path, "-v", "+v", "-xf", str(config), "NoCT")
    try:
        assert_same_dumps(pair.run(storescu("-R", files=[instances["ct"]])))
    finally:
        pair.stop()


def test_dump_functions_match_dcmrecv_for_a_recorded_request(default_pair, instances):
    """pcdump alone, from the very bytes storescu sent, against dcmrecv's lines (no service log involved)."""
    from dcmrecv_cluster.shared.asconfig import load_profile
    from dcmrecv_cluster.workers import acse, pcdump
    from dcmrecv_cluster.workers.negotiation import Negotiator

    seen = default_pair.run(storescu("-xb", files=[instances["mr"]]))
    theirs = wait_until(lambda: _finished(seen["dcmrecv"]["log"]()), 10, 0.05, "dcmrecv's dump")
    request = acse.decode_request(seen["dcmrecv"]["request"][6:])

    class Local:
        implementation_class_uid, implementation_version_name, max_pdu = "x", "y", 16384

    answer = Negotiator(load_profile(STORESCP_CFG, "Default")).answer(request)
    ours = "\n".join(
        "\n".join(f"I: {line}" for line in text.split("\n"))
        for text in (pcdump.describe_request(request, Local), pcdump.describe_answer(request, answer, Local, True))
    )
    expected = [block for block in _dumps(theirs) if len(block) > 1]
    assert [block for block in _dumps(ours) if len(block) > 1] == expected


# --------------------------------------------------------------------------- configuration errors


BAD_CONFIGS = {
    "unknown-profile": (ROLES_CFG, "NoSuchProfile"),
    "duplicate-abstract-syntax": (NOCT_CFG.replace(r"PresentationContext2 = MRImageStorage\Uncompressed",
                                                   "PresentationContext2 = MRImageStorage\\Uncompressed\n"
                                                   "PresentationContext3 = MRImageStorage\\Uncompressed"), "NoCT"),
    "role-not-in-contexts": (ROLES_CFG.replace(r"Role3 = SecondaryCaptureImageStorage\BOTH",
                                               r"Role3 = RTImageStorage\BOTH"), "Roles"),
    "bad-extended-negotiation-hex": (ROLES_CFG.replace(r"MRImageStorage\0102", r"MRImageStorage\01x2"), "Roles"),
    "unknown-role": (ROLES_CFG.replace(r"CTImageStorage\SCU", r"CTImageStorage\BOSS"), "Roles"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_configuration_errors_exit_66_like_dcmrecv(tmp_path, case):
    text, profile = BAD_CONFIGS[case]
    config = tmp_path / "bad.cfg"
    config.write_text(text)
    args = ["-od", str(tmp_path), "-xf", str(config), profile, str(free_port())]
    theirs = subprocess.run([dcmtk("dcmrecv"), *args], capture_output=True, text=True, timeout=30)
    ours = subprocess.run([str(BIN / "dcmrecv-cluster"), *args], capture_output=True, text=True, timeout=60)
    assert theirs.returncode == ours.returncode == 66
    their_lines = [line for line in theirs.stderr.splitlines() if line[:2] in ("E:", "F:")]
    assert their_lines and all(line in ours.stderr.splitlines() for line in their_lines), ours.stderr


# --------------------------------------------------------------------------- CPU per association


def measure(iterations: int = 2000) -> float:
    """Worker CPU (ms) of decode_request + negotiate + encode_accept for 128 proposed contexts."""
    from dcmrecv_cluster.shared.asconfig import load_profile
    from dcmrecv_cluster.workers import acse
    from dcmrecv_cluster.workers.negotiation import Negotiator

    def item(item_type: int, value: bytes) -> bytes:
        return struct.pack(">BxH", item_type, len(value)) + value

    profile = load_profile(STORESCP_CFG, "Default")
    syntaxes = [b"1.2.840.10008.1.2.1", b"1.2.840.10008.1.2", b"1.2.840.10008.1.2.1.99", b"1.2.840.10008.1.2.2"]
    parts = [item(0x10, b"1.2.840.10008.3.1.1.1")]
    for n, spec in enumerate(profile.contexts[:128]):
        sub = item(0x30, spec.abstract_syntax.encode()) + b"".join(item(0x40, ts) for ts in syntaxes)
        parts.append(item(0x20, bytes((2 * n + 1, 0, 0, 0)) + sub))
    parts.append(item(0x50, item(0x51, struct.pack(">L", 16384)) + item(0x52, b"1.2.3.4") + item(0x55, b"BENCH")))
    body = b"\x00\x01\x00\x00" + b"ANY-SCP".ljust(16) + b"STORESCU".ljust(16) + bytes(32) + b"".join(parts)
    negotiator = Negotiator(profile)

    def accept() -> bytes:
        request = acse.decode_request(body)
        answer = negotiator.answer(request)
        return acse.encode_accept(request, answer.results, 16384, "1.2.3", "X",
                                  answer.roles, answer.extended_negotiation)

    assert len(acse.decode_request(body).contexts) == 128
    for _ in range(50):
        accept()
    start = time.process_time()
    for _ in range(iterations):
        accept()
    return (time.process_time() - start) / iterations * 1e3


if __name__ == "__main__":
    print(f"accepting one association (128 proposed contexts, storescp.cfg Default): {measure():.3f} ms worker CPU")
