"""The business calendar behind the 5-working-day promise.

Working days are Sunday to Thursday in Asia/Riyadh; official holidays (Founding Day, National Day,
Eid al-Fitr and Eid al-Adha by the Umm al-Qura calendar) and operator overrides come from
``data/calendar.yml``. ``add_working_days`` keeps the time of day: a ticket opened on Tuesday 10:15
is due five working days later at 10:15.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from hijridate import Hijri

_WEEKDAYS = {
    name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}
# Umm al-Qura tables in hijridate cover 1343-1500 AH (1924-2077 CE).
_HIJRI_RANGE = (1343, 1500)


class CalendarError(ValueError):
    """The calendar file is invalid; the message names the file and the entry."""


@dataclass(frozen=True)
class Holiday:
    day: date
    name_en: str
    name_ar: str


@dataclass(eq=False)
class BusinessCalendar:
    timezone: ZoneInfo
    weekend: frozenset[int] = frozenset({4, 5})  # Friday, Saturday (date.weekday())
    fixed: tuple[tuple[int, int, str, str], ...] = ()
    hijri: tuple[tuple[tuple[int, int], tuple[int, int], str, str], ...] = ()
    added: dict[date, tuple[str, str]] = field(default_factory=dict)
    removed: frozenset[date] = frozenset()
    opening: time = time(7, 30)
    closing: time = time(14, 30)
    _by_year: dict[int, tuple[Holiday, ...]] = field(default_factory=dict, repr=False)
    _off_days: dict[int, frozenset[date]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_file(cls, path: Path) -> BusinessCalendar:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise CalendarError(f"{path}: {exc}") from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BusinessCalendar:
        weekend = frozenset(_WEEKDAYS[str(d).lower()] for d in data.get("weekend", ["friday", "saturday"]))
        fixed = tuple(
            (int(h["month"]), int(h["day"]), h["name_en"], h["name_ar"]) for h in data.get("fixed_holidays", [])
        )
        hijri = tuple(
            (
                (int(h["from"]["month"]), int(h["from"]["day"])),
                (int(h["to"]["month"]), int(h["to"]["day"])),
                h["name_en"],
                h["name_ar"],
            )
            for h in data.get("hijri_holidays", [])
        )
        overrides = data.get("overrides") or {}
        added = {
            _as_date(item["date"]): (item.get("name_en", "Holiday"), item.get("name_ar", "إجازة"))
            for item in overrides.get("add") or []
        }
        removed = frozenset(_as_date(d) for d in overrides.get("remove") or [])
        hours = data.get("working_hours") or {}
        opening = time.fromisoformat(str(hours.get("start", "07:30")))
        closing = time.fromisoformat(str(hours.get("end", "14:30")))
        if closing <= opening:
            raise ValueError("working_hours: end must be after start")
        return cls(
            ZoneInfo(data.get("timezone", "Asia/Riyadh")), weekend, fixed, hijri, added, removed, opening, closing
        )

    # --- holidays ---------------------------------------------------------------------------------

    def holidays_in(self, year: int) -> tuple[Holiday, ...]:
        """All holidays that fall in Gregorian ``year``, sorted by day (computed once per year)."""
        if year not in self._by_year:
            self._by_year[year] = self._compute_holidays(year)
        return self._by_year[year]

    def _compute_holidays(self, year: int) -> tuple[Holiday, ...]:
        days: dict[date, Holiday] = {}
        for month, day, name_en, name_ar in self.fixed:
            days[date(year, month, day)] = Holiday(date(year, month, day), name_en, name_ar)
        for hijri_year in _hijri_years_overlapping(year):
            for (m1, d1), (m2, d2), name_en, name_ar in self.hijri:
                start = Hijri(hijri_year, m1, d1).to_gregorian()
                end = Hijri(hijri_year, m2, d2).to_gregorian()
                for offset in range((end - start).days + 1):
                    day_ = date(start.year, start.month, start.day) + timedelta(days=offset)
                    if day_.year == year:
                        days[day_] = Holiday(day_, name_en, name_ar)
        for day_, (name_en, name_ar) in self.added.items():
            if day_.year == year:
                days[day_] = Holiday(day_, name_en, name_ar)
        return tuple(sorted((h for d, h in days.items() if d not in self.removed), key=lambda h: h.day))

    def is_holiday(self, day: date) -> bool:
        if day.year not in self._off_days:
            self._off_days[day.year] = frozenset(h.day for h in self.holidays_in(day.year))
        return day in self._off_days[day.year]

    def is_working_day(self, day: date) -> bool:
        if day in self.removed:
            return True
        return day.weekday() not in self.weekend and not self.is_holiday(day)

    # --- arithmetic -------------------------------------------------------------------------------

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """``days`` working days after ``start`` at the same local time of day (aware datetime out)."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if days < 0:
            raise ValueError("days must be zero or more")
        local = start.astimezone(self.timezone)
        day = local.date()
        remaining = days
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return datetime.combine(day, local.timetz().replace(tzinfo=None), self.timezone)

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        """Seconds between two instants that fall on working days (a working day counts 24 hours),
        the measure the SLA clock runs on: pausing keeps it, resuming gives it back."""
        if end <= start:
            return 0.0
        a, b = start.astimezone(self.timezone), end.astimezone(self.timezone)
        total = 0.0
        day = a.date()
        while day <= b.date():
            if self.is_working_day(day):
                day_start = datetime.combine(day, datetime.min.time(), self.timezone)
                lo = max(a, day_start)
                hi = min(b, day_start + timedelta(days=1))
                total += max(0.0, (hi - lo).total_seconds())
            day += timedelta(days=1)
        return total

    def add_working_seconds(self, start: datetime, seconds: float) -> datetime:
        """The instant ``seconds`` of working time after ``start`` (inverse of working_seconds_between)."""
        current = start.astimezone(self.timezone)
        remaining = max(0.0, seconds)
        while True:
            day_start = datetime.combine(current.date(), datetime.min.time(), self.timezone)
            day_end = day_start + timedelta(days=1)
            if self.is_working_day(current.date()):
                available = (day_end - current).total_seconds()
                if remaining <= available:
                    return current + timedelta(seconds=remaining)
                remaining -= available
            current = day_end

    def is_open(self, at: datetime) -> bool:
        """Are staff at their desks at ``at`` (a working day, within working hours)?"""
        local = at.astimezone(self.timezone)
        return self.is_working_day(local.date()) and self.opening <= local.time() < self.closing

    def next_opening(self, at: datetime) -> datetime:
        """The next moment staff are at their desks (``at`` itself if they are)."""
        if self.is_open(at):
            return at
        local = at.astimezone(self.timezone)
        day = local.date()
        if self.is_working_day(day) and local.time() < self.opening:
            return datetime.combine(day, self.opening, self.timezone)
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return datetime.combine(day, self.opening, self.timezone)

    def working_days(self, start: date, end: date) -> Iterable[date]:
        day = start
        while day <= end:
            if self.is_working_day(day):
                yield day
            day += timedelta(days=1)


def _hijri_years_overlapping(year: int) -> range:
    approx = int((year - 622) * 33 / 32)  # a Hijri year is ~11 days shorter than a Gregorian one
    low, high = max(approx - 1, _HIJRI_RANGE[0]), min(approx + 2, _HIJRI_RANGE[1])
    return range(low, high + 1)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@functools.lru_cache(maxsize=4)
def load_calendar(path: Path) -> BusinessCalendar:
    """The calendar in ``path``, parsed once per process."""
    return BusinessCalendar.from_file(path)
