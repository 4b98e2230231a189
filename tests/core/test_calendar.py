"""The business calendar: Sunday-Thursday in Riyadh, Saudi official holidays, same time of day."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ticket_core.calendar import BusinessCalendar, CalendarError, load_calendar

RIYADH = ZoneInfo("Asia/Riyadh")
CALENDAR = load_calendar(Path(__file__).resolve().parents[2] / "data" / "calendar.yml")


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 15) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=RIYADH)


def test_five_working_days_skip_the_weekend_and_keep_the_time() -> None:
    # Tuesday 24 Nov 2026 10:15 -> Wed, Thu, (Fri, Sat off), Sun, Mon, Tue 1 Dec 10:15
    assert CALENDAR.add_working_days(at(2026, 11, 24), 5) == at(2026, 12, 1)


def test_starting_on_a_friday_counts_from_sunday() -> None:
    assert CALENDAR.add_working_days(at(2026, 11, 27), 1) == at(2026, 11, 29)


def test_national_day_and_founding_day_are_days_off() -> None:
    assert not CALENDAR.is_working_day(date(2026, 9, 23))  # a Wednesday
    assert not CALENDAR.is_working_day(date(2027, 2, 22))  # a Monday
    # Mon 21 Sep 2026 + 2 working days: Tue 22, (Wed 23 National Day) Thu 24
    assert CALENDAR.add_working_days(at(2026, 9, 21), 2) == at(2026, 9, 24)


def test_eid_holidays_follow_the_umm_al_qura_calendar() -> None:
    days = {h.day for h in CALENDAR.holidays_in(2026) if h.name_en == "Eid al-Fitr"}
    assert date(2026, 3, 20) in days  # 1 Shawwal 1447
    adha = {h.day for h in CALENDAR.holidays_in(2026) if h.name_en == "Eid al-Adha"}
    assert date(2026, 5, 27) in adha  # 10 Dhu al-Hijjah 1447


def test_result_is_timezone_aware_for_utc_input() -> None:
    start = datetime(2026, 11, 24, 7, 15, tzinfo=ZoneInfo("UTC"))  # 10:15 in Riyadh
    due = CALENDAR.add_working_days(start, 5)
    assert due.tzinfo is not None and due == at(2026, 12, 1)


def test_overrides_add_and_remove_days() -> None:
    calendar = BusinessCalendar.from_dict(
        {
            "overrides": {
                "add": [{"date": "2026-11-25", "name_en": "Storm", "name_ar": "عاصفة"}],
                "remove": ["2026-09-23"],
            }
        }
    )
    assert not calendar.is_working_day(date(2026, 11, 25))
    assert calendar.is_working_day(date(2026, 9, 23))


def test_naive_datetimes_and_negative_days_are_refused() -> None:
    with pytest.raises(ValueError):
        CALENDAR.add_working_days(datetime(2026, 1, 1), 1)
    with pytest.raises(ValueError):
        CALENDAR.add_working_days(at(2026, 1, 1), -1)


def test_a_broken_calendar_file_names_itself(tmp_path: Path) -> None:
    bad = tmp_path / "calendar.yml"
    bad.write_text("fixed_holidays:\n  - {name_en: X, month: 2}\n", encoding="utf-8")
    with pytest.raises(CalendarError) as exc:
        BusinessCalendar.from_file(bad)
    assert str(bad) in str(exc.value)
