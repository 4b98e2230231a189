"""Routing: which organisational unit receives a ticket.

The spine sends every ticket to the central triage queue (the unit marked ``triage: true`` in
``data/org.yml``); data-driven rules by category, entities and sub-service come with the
ticket-core issue and plug in here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ticket_core.tickets import UnitRef
from ticket_core.org import triage_unit


class Router:
    """Chooses the unit for a new ticket."""

    def __init__(self) -> None:
        self._triage: UnitRef | None = None

    def unit_for(self, session: Session, category: str, analysis: Any) -> UnitRef:
        if self._triage is None:  # units change only with `tawasul seed`; one lookup per process
            unit = triage_unit(session)
            self._triage = UnitRef(unit.id, unit.key, unit.name_ar, unit.name_en, unit.is_triage)
        return self._triage
