"""The worker's half of the access options: refuse an A-ASSOCIATE-RQ the policy does not admit.

Kept out of association.py (one call right after the request is decoded) so the
data path stays untouched. The policy itself is shared/access.py; the supervisor
logs the refusal (rate-limited, so a sender retrying in a loop is one line per
interval) and counts it in /metrics by reason.
"""

from __future__ import annotations

from dcmrecv_cluster.shared import access, wire
from dcmrecv_cluster.workers import acse, pdu


def refuse(association, request):
    """Generator: True once an A-ASSOCIATE-RJ has been sent, False to go on negotiating."""
    policy = association.settings.access
    refusal = policy.check(request.calling_ae_title, request.called_ae_title, association.peer[0])
    if refusal is None and policy.per_aet is not None:
        # Node-wide count, kept by the supervisor (one round trip, off the reactor thread).
        title = access.ae_title(request.calling_ae_title)
        link = association.link
        reply = yield pdu.Offload(lambda: link.request(wire.AET, title=title))
        if reply.get("granted"):
            association.held_aet = title        # given back by the worker's CLOSED message
        else:
            refusal = access.Refusal(access.RJ_PER_AET_LIMIT, "max-associations-per-aet",
                                     f"--max-associations-per-aet {policy.per_aet} reached")
    if refusal is None:
        return False
    association.link.log("I", f"Refusing Association ({refusal.text})")
    yield from association._send(acse.encode_reject(*refusal.rj))
    association.link.rejected(refusal.reason, association.peer[0], calling=request.calling_ae_title,
                              called=request.called_ae_title, text=refusal.text)
    return True
