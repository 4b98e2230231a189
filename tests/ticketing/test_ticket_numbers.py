"""Ticket numbers: YYYY-NNNNNN from the ticket's id, written with the ticket on every database."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.ticketing.conftest import Desk
from ticket_core.tickets import format_number


def test_a_new_ticket_carries_its_number_from_the_start(desk: Desk) -> None:
    numbers = [desk.open("university-ksu", text=f"طلب رقم {i}") for i in range(3)]
    for number in numbers:
        ticket = desk.ticket(number)
        assert number == ticket.number == format_number(ticket.id, ticket.created_at, desk.ctx.calendar.timezone)
    assert len(set(numbers)) == 3


def test_a_seven_digit_id_is_written_whole_not_cut_to_six(desk: Desk) -> None:
    if desk.db.is_sqlite:
        pytest.skip(
            "SQLite numbers the ticket in Python after the insert (format_number); the SQL path is PostgreSQL's"
        )
    with desk.db.engine.begin() as conn:
        conn.execute(text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), 1234566)"))
    number = desk.open("university-ksu")
    ticket = desk.ticket(number)
    assert ticket.id == 1234567
    assert number.endswith("-1234567") and number == format_number(
        ticket.id, ticket.created_at, desk.ctx.calendar.timezone
    )
