"""The +v (--verbose-pc) dumps of an association's request and answer, in dcmrecv's words.

Line for line what DCMTK 3.6.7's ``ASC_dumpParameters`` prints (``dcmnet/libsrc/assoc.cc``), which
dcmrecv logs at INFO level with ``+v``: "Incoming Association Request:" and the A-ASSOCIATE-RQ dump
when a request arrives, then the A-ASSOCIATE-AC dump after "Association Acknowledged" or the
A-ASSOCIATE-RJ dump after "No Acceptable Presentation Contexts".  UIDs DCMTK knows are shown as
``=Name`` (its ``uidNameMap``), others as the bare UID.

``local`` is anything with ``implementation_class_uid``, ``implementation_version_name`` and
``max_pdu`` (``workers.association.AssociationSettings`` is).  Only "Our Implementation ..." lines
differ from dcmrecv's, by design.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from dcmrecv_cluster.shared import uidnames, ul
from dcmrecv_cluster.workers.negotiation import DEFAULT, SCP, Answer, proposed_role

_RESULT_TEXT = {
    ul.ACCEPTANCE: "(Accepted)",
    ul.USER_REJECTION: "(User Rejection)",
    ul.NO_REASON: "(No Reason)",
    ul.ABSTRACT_SYNTAX_NOT_SUPPORTED: "(Abstract Syntax Not Supported)",
    ul.TRANSFER_SYNTAXES_NOT_SUPPORTED: "(Transfer Syntaxes Not Supported)",
}
_IDENTITY_MODES = {
    1: "Username",
    2: "Username/Password",
    3: "Kerberos",
    4: "SAML",
    5: "JWT",
}


@lru_cache(maxsize=1)
def _names() -> Mapping[str, str]:
    """UID -> DCMTK name (``dcmFindNameOfUID``); the table has no UID twice."""
    return {uid: name for name, uid in uidnames.DCMTK_UID_NAMES.items()}


def _named(uid: str) -> str:
    name = _names().get(uid)
    return "=" + name if name else uid


class _Unknown:
    """Stand-in for ``local`` when a caller has none (the "Our ..." lines then stay empty)."""

    implementation_class_uid = implementation_version_name = max_pdu = ""


def describe_request(request, local=None) -> str:
    """The lines dcmrecv logs for an incoming A-ASSOCIATE-RQ with +v."""
    local = local or _Unknown
    lines = ["Incoming Association Request:"]
    _header(lines, "RQ", request, local, responding="")
    for context_id, abstract_syntax, transfer_syntaxes in request.contexts:
        lines.append(f"  Context ID:        {context_id} (Proposed)")
        lines.append(f"    Abstract Syntax: {_named(abstract_syntax)}")
        lines.append(f"    Proposed SCP/SCU Role: {proposed_role(request.roles.get(abstract_syntax))}")
        lines.append("    Proposed Transfer Syntax(es):")
        lines.extend(f"      {_named(ts)}" for ts in transfer_syntaxes)
    return _footer(lines, "RQ", request, [])


def describe_answer(request, answer: Answer, local=None, accepted: bool = True) -> str:
    """The A-ASSOCIATE-AC dump (``accepted``) or A-ASSOCIATE-RJ dump dcmrecv logs with +v.

    ``answer`` may also be a bare results list (the former call); roles then show as unconfigured.
    """
    local = local or _Unknown
    if isinstance(answer, list):
        answer = Answer(answer, {}, [], [], {})
    kind = "AC" if accepted else "RJ"
    lines: list[str] = []
    _header(lines, kind, request, local, responding=request.called_ae_title)
    roles = request.roles
    configured = answer.configured_roles
    for (context_id, abstract_syntax, _), (_, result, ts) in zip(request.contexts, answer.results, strict=True):
        lines.append(f"  Context ID:        {context_id} {_RESULT_TEXT.get(result, '(--Invalid Result/Reason--)')}")
        lines.append(f"    Abstract Syntax: {_named(abstract_syntax)}")
        lines.append(f"    Proposed SCP/SCU Role: {proposed_role(roles.get(abstract_syntax))}")
        if result == 0:
            role = configured.get(abstract_syntax, DEFAULT)
        elif result == 2:
            role = SCP  # DCMTK records the configured role before refusing the context
        else:
            role = DEFAULT
        lines.append(f"    Accepted SCP/SCU Role: {role}")
        if result == 0:
            lines.append(f"    Accepted Transfer Syntax: {_named(ts)}")
    return _footer(lines, kind, request, answer.extended_negotiation)


def _header(lines: list[str], kind: str, request, local, responding: str) -> None:
    lines += [
        f"====================== BEGIN A-ASSOCIATE-{kind} =====================",
        f"Our Implementation Class UID:      {local.implementation_class_uid}",
        f"Our Implementation Version Name:   {local.implementation_version_name}",
        f"Their Implementation Class UID:    {request.implementation_class_uid}",
        f"Their Implementation Version Name: {request.implementation_version_name}",
        f"Application Context Name:    {request.application_context}",
        f"Calling Application Name:    {request.calling_ae_title}",
        f"Called Application Name:     {request.called_ae_title}",
        f"Responding Application Name: {responding}",
        f"Our Max PDU Receive Size:    {local.max_pdu}",
        f"Their Max PDU Receive Size:  {request.max_pdu_length}",
        "Presentation Contexts:",
    ]


def _extended(lines: list[str], title: str, pad: str, items) -> None:
    if not items:
        lines.append(f"{title}:{pad}none")
        return
    lines.append(f"{title}:")
    for uid, data in items:
        lines.append(f"  ={_names().get(uid, 'Unknown-UID')} ({uid})")
        lines.append("    [" + ", ".join(f"0x{byte:02x}" for byte in data) + "]")


def _footer(lines: list[str], kind: str, request, accepted_extended) -> str:
    _extended(lines, "Requested Extended Negotiation", " ", request.extended_negotiation)
    _extended(lines, "Accepted Extended Negotiation", "  ", accepted_extended)
    identity = getattr(request, "user_identity", None)
    if identity is None:
        lines.append("Requested User Identity Negotiation: none")
    else:
        lines.append("Requested User Identity Negotiation:")
        lines.extend(_identity(identity))
    lines.append("User Identity Negotiation Response:  none")
    lines.append(f"======================= END A-ASSOCIATE-{kind} ======================")
    return "\n".join(lines)


def _identity(identity) -> list[str]:
    """``UserIdentityNegotiationSubItemRQ::dump`` (it does print a password, as DCMTK does)."""
    mode = identity.identity_type
    primary, secondary = identity.primary, identity.secondary
    if mode in (1, 2):
        out = [f"  Authentication mode {mode}: {_IDENTITY_MODES[mode]}", f"  Username: [{_c_text(primary)}]"]
        if mode == 2:
            out.append(f"  Password: [{_c_text(secondary)}]")
    elif mode == 3:
        out = ["  Authentication mode 3: Kerberos", f"  Kerberos Service Ticket (not dumped) length: {len(primary)}"]
    elif mode == 4:
        out = ["  Authentication mode 4: SAML", f"  SAML Assertion (not dumped) length: {len(primary)}"]
    elif mode == 5:
        out = ["  Authentication mode 5: JWT", f"  JSON Web Token (not dumped) length: {len(primary)}"]
    else:
        out = ["  Authentication mode: Unknown ", f"  First value (not dumped), length: {len(primary)}",
               f"  Second Value (not dumped), length: {len(secondary)}"]
    out.append(f"  Positive Response requested: {'Yes' if identity.positive_response else 'No'}")
    return out


def _c_text(value: bytes) -> str:
    end = value.find(0)
    return (value if end < 0 else value[:end]).decode("latin-1")
