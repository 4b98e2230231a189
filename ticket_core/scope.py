"""Who may see which tickets: every query is scoped to the person's units.

A coordinator sees the tickets of the units they belong to; a supervisor or unit head also sees
every unit below theirs (escalations from below land in their unit); an administrator sees all.
A ticket outside someone's scope does not exist for them (the API answers 404, never 403, so
ticket numbers cannot be probed).
"""

from __future__ import annotations

from dataclasses import dataclass

from ticket_core.models import Role
from ticket_core.org import OrgTree
from ticket_core.people import Principal


@dataclass(frozen=True)
class Scope:
    unit_ids: frozenset[int] | None  # None: everything (administrators)

    def allows(self, unit_id: int) -> bool:
        return self.unit_ids is None or unit_id in self.unit_ids


def scope_for(principal: Principal, tree: OrgTree) -> Scope:
    if principal.role is Role.ADMIN:
        return Scope(None)
    if principal.role is Role.SUPERVISOR:
        units: set[int] = set()
        for unit_id in principal.unit_ids:
            units |= tree.descendants(unit_id)
        return Scope(frozenset(units))
    return Scope(frozenset(principal.unit_ids))
