"""The worker's half of the access options: refuse an A-ASSOCIATE-RQ the policy does not admit.

Kept out of association.py (one call right after the request is decoded) so the
data path stays untouched. The policy itself is shared/access.py; the supervisor
logs the refusal (rate-limited, so a sender retrying in a loop is one line per
interval) and counts it in /metrics by reason.
"""

from __future__ import annotations

from dcmrecv_cluster.workers import acse


def refuse(association, request):
    """Generator: True once an A-ASSOCIATE-RJ has been sent, False to go on negotiating."""
    refusal = association.settings.access.check(request.calling_ae_title, request.called_ae_title,
                                                association.peer[0])
    if refusal is None:
        return False
    association.link.log("I", f"Refusing Association ({refusal.text})")
    yield from association._send(acse.encode_reject(*refusal.rj))
    association.link.rejected(refusal.reason, association.peer[0], calling=request.calling_ae_title,
                              called=request.called_ae_title, text=refusal.text)
    return True
