"""Presentation-context, role and extended negotiation for one loaded profile, built once per worker."""

from __future__ import annotations

from dcmrecv_cluster.shared import asconfig

# The requestor's (SCU, SCP) roles a profile's role entry allows.
_ALLOWED = {"SCU": (1, 0), "SCP": (0, 1), "BOTH": (1, 1)}


class Negotiator:
    def __init__(self, profile: asconfig.AssociationProfile) -> None:
        self.profile = profile
        self.roles = {cx.abstract_syntax: cx.role for cx in profile.contexts if cx.role}
        self.extended = {cx.abstract_syntax: cx.extended_negotiation
                         for cx in profile.contexts if cx.extended_negotiation is not None}

    def negotiate(self, proposed: list[tuple[int, str, list[str]]],
                  role_items: dict[str, tuple[int, int]]) -> list[tuple[int, int, str | None]]:
        """dcmrecv's rules: first profile entry with the abstract syntax, the SCP's transfer-syntax order wins."""
        return asconfig.negotiate(self.profile, proposed, frozenset(role_items))

    def role_replies(self, requested: dict[str, tuple[int, int]], accepted: set[str]) -> dict[str, tuple[int, int]]:
        """Answer role selection only where the profile configures a role, as DCMTK does."""
        replies = {}
        for uid, (scu, scp) in requested.items():
            role = self.roles.get(uid)
            if role and uid in accepted:
                allowed_scu, allowed_scp = _ALLOWED[role]
                replies[uid] = (scu & allowed_scu, scp & allowed_scp)
        return replies

    def extended_replies(self, requested: dict[str, bytes], accepted: set[str]) -> dict[str, bytes]:
        return {uid: self.extended[uid] for uid in requested if uid in self.extended and uid in accepted}
