"""Presentation-context, role and extended negotiation for one loaded profile, built once per worker.

The rules are DCMTK 3.6.7's (``DcmAssociationConfiguration::evaluateAssociationParameters``,
``ASC_acceptPresentationContext``, ``constructSCUSCPRoles``), so an A-ASSOCIATE-AC from us equals
dcmrecv's item for item:

* each proposed context, in request order: the profile's entry for its abstract syntax, else
  result 3; the first transfer syntax *in the profile's order* that was proposed, else result 4;
* a context whose abstract syntax is configured for role ``SCP`` but was proposed without a role
  selection item is refused with result 2 (and an error line is logged);
* one role selection item per accepted context that was proposed with a role item and whose
  abstract syntax has a configured role; the requestor gets only roles it proposed;
* the profile's extended negotiation items, in configuration order, for every abstract syntax
  with an accepted context -- whether or not the requestor sent extended negotiation.

Everything per profile is computed once in ``__init__``; an association only reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dcmrecv_cluster.shared import asconfig
from dcmrecv_cluster.shared.ul import (
    ABSTRACT_SYNTAX_NOT_SUPPORTED,
    ACCEPTANCE,
    NO_REASON,
    TRANSFER_SYNTAXES_NOT_SUPPORTED,
)

# DCMTK's role names (ASC_role2String) for a proposal and for a profile entry.
DEFAULT, SCU, SCP, SCUSCP, NONE = "Default", "SCU", "SCP", "SCP/SCU", "None"
_CONFIGURED = {"SCU": SCU, "SCP": SCP, "BOTH": SCUSCP}

ROLE_FAILED = ("E", "ASSOC: SCP/SCU role selection failed, Default role (i.e. SCU) proposed "
                    "but only SCP role configured for acceptance")
ROLE_NONE = ("W", "setting accepted SCP/SCU role to NONE, i.e. both role fields are 0 in SCP/SCU "
                  "role selection sub-item")


def preferred_transfer_syntax(rank: Mapping[str, int], proposed: Iterable[str]) -> str | None:
    """The proposed transfer syntax that comes first in the SCP's configured order (DCMTK's rule)."""
    best, best_rank = None, len(rank)
    for ts in proposed:
        position = rank.get(ts)
        if position is not None and position < best_rank:
            best, best_rank = ts, position
    return best


def proposed_role(item: tuple[int, int] | None) -> str:
    """The requestor's role for a context, from its role item (DCMTK translatePresentationContextList)."""
    if item is None:
        return DEFAULT
    scu, scp = item
    if scu == scp:
        return SCUSCP
    return SCU if scu == 1 else SCP


def _reply(proposed: str, configured: str) -> tuple[int, int]:
    """The role item values answered (DCMTK constructSCUSCPRoles): only what was proposed."""
    scu = 1 if configured in (SCU, SCUSCP) and proposed != SCP else 0
    scp = 1 if configured in (SCP, SCUSCP) and proposed != SCU else 0
    return scu, scp


@dataclass(slots=True)
class Answer:
    """What to send for one A-ASSOCIATE-RQ (and what to log about it)."""

    results: list[tuple[int, int, str | None]]  # (context id, result, accepted TS or None)
    accepted: dict[int, str]  # context id -> accepted transfer syntax
    roles: list[tuple[str, int, int]]  # AC role selection items: (abstract syntax, SCU, SCP)
    extended_negotiation: list[tuple[str, bytes]]  # AC extended negotiation items
    configured_roles: dict[str, str]  # the negotiator's (shared, read-only) abstract syntax -> role name
    log_lines: list[tuple[str, str]] = field(default_factory=list)  # (level, text), DCMTK's warnings/errors


class Negotiator:
    """The one negotiation engine: production answers with it, the dcmrecv differential tests test it."""

    def __init__(self, profile: asconfig.AssociationProfile) -> None:
        self.profile = profile
        # abstract syntax -> (TS rank, configured role name or None); first entry wins as in DCMTK
        self._index: dict[str, tuple[dict[str, int], str | None]] = {}
        for spec in profile.contexts:
            if spec.abstract_syntax in self._index:
                continue
            rank: dict[str, int] = {}
            for pos, ts in enumerate(spec.transfer_syntaxes):
                rank.setdefault(ts, pos)
            self._index[spec.abstract_syntax] = (rank, _CONFIGURED.get(spec.role or ""))
        self.configured_roles = {uid: role for uid, (_, role) in self._index.items() if role}
        self._extended = self._extended_items(profile)

    @staticmethod
    def _extended_items(profile: asconfig.AssociationProfile) -> tuple[tuple[str, bytes], ...]:
        """The profile's extended negotiation list in configuration order."""
        ordered = getattr(profile, "extended_negotiation", ())
        if ordered:
            return tuple(ordered)
        return tuple((cx.abstract_syntax, cx.extended_negotiation) for cx in profile.contexts
                     if cx.extended_negotiation is not None)

    def answer(self, request) -> Answer:
        """Negotiate one ``acse.AssociateRequest``: results, role and extended negotiation items."""
        index = self._index
        proposals = request.roles
        results: list[tuple[int, int, str | None]] = []
        accepted: dict[int, str] = {}
        roles: list[tuple[str, int, int]] = []
        log: list[tuple[str, str]] = []
        for context_id, abstract_syntax, transfer_syntaxes in request.contexts:
            hit = index.get(abstract_syntax)
            if hit is None:
                results.append((context_id, ABSTRACT_SYNTAX_NOT_SUPPORTED, None))
                continue
            rank, configured = hit
            best = preferred_transfer_syntax(rank, transfer_syntaxes)
            if best is None:
                results.append((context_id, TRANSFER_SYNTAXES_NOT_SUPPORTED, None))
                continue
            if configured is not None or proposals:
                proposed = proposed_role(proposals.get(abstract_syntax)) if proposals else DEFAULT
                if configured == SCP and proposed == DEFAULT:
                    log.append(ROLE_FAILED)
                    results.append((context_id, NO_REASON, None))
                    continue
                if configured is not None and proposed != DEFAULT:
                    scu, scp = _reply(proposed, configured)
                    if not (scu or scp):
                        log.append(ROLE_NONE)
                    roles.append((abstract_syntax, scu, scp))
            results.append((context_id, ACCEPTANCE, best))
            accepted[context_id] = best
        extended: list[tuple[str, bytes]] = []
        if self._extended and accepted:
            syntaxes = {abstract for cid, abstract, _ in request.contexts if cid in accepted}
            extended = [item for item in self._extended if item[0] in syntaxes]
        return Answer(results, accepted, roles, extended, self.configured_roles, log)
