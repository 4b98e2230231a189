"""Service levels: due times per escalation level, the objection window, pausing the clock.

The first answer is due ``TAWASUL_SLA_WORKING_DAYS`` working days after a ticket opens; after an
escalation the new owner gets the working days configured for that level in ``data/sla.yml``.
While a ticket waits for the citizen the clock stops: the remaining working time is kept and
given back when they reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from ticket_core.calendar import BusinessCalendar


class SlaFileError(ValueError):
    """``sla.yml`` is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class SlaPolicy:
    first_answer_days: int = 5
    level_days: dict[int, int] = field(default_factory=lambda: {1: 3, 2: 3})
    default_level_days: int = 2
    objection_window: timedelta = timedelta(days=7)
    auto_close_after: timedelta = timedelta(days=7)
    csat_low_score: int = 2
    quality_sample_rate: float = 0.05
    urgent_first: timedelta = timedelta(hours=1)
    urgent_escalation: timedelta = timedelta(hours=1)

    @classmethod
    def from_file(cls, path: Path, *, first_answer_days: int) -> SlaPolicy:
        try:
            data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            levels = {str(k): int(v) for k, v in (data.get("escalation_levels") or {}).items()}
            policy = cls(
                first_answer_days=first_answer_days,
                level_days={int(k): v for k, v in levels.items() if k != "default"},
                default_level_days=levels.get("default", 2),
                objection_window=timedelta(days=float(data.get("objection_window_days", 7))),
                auto_close_after=timedelta(days=float(data.get("auto_close_after_days", 7))),
                csat_low_score=int(data.get("csat_low_score", 2)),
                quality_sample_rate=float(data.get("quality_sample_rate", 0.05)),
                urgent_first=timedelta(hours=float((data.get("urgent") or {}).get("first_response_hours", 1))),
                urgent_escalation=timedelta(hours=float((data.get("urgent") or {}).get("escalation_hours", 1))),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise SlaFileError(f"{path}: {exc}") from None
        if not 0 <= policy.quality_sample_rate <= 1:
            raise SlaFileError(f"{path}: quality_sample_rate must be between 0 and 1")
        if any(days < 1 for days in [*policy.level_days.values(), policy.default_level_days, first_answer_days]):
            raise SlaFileError(f"{path}: every level needs at least 1 working day")
        return policy

    def days_for_level(self, level: int) -> int:
        """Working days an owner at ``level`` has (level 0 is the first answer)."""
        if level <= 0:
            return self.first_answer_days
        return self.level_days.get(level, self.default_level_days)

    def due(self, calendar: BusinessCalendar, start: datetime, level: int, *, urgent: bool = False) -> datetime:
        """When an answer is due: working days on the calendar, or clock hours for urgent tickets."""
        if urgent:
            return start + (self.urgent_first if level <= 0 else self.urgent_escalation)
        return calendar.add_working_days(start, self.days_for_level(level))
