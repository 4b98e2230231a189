"""The coordinator API: sign-in and lockout, the authorisation matrix, actions end to end, reports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.web.app import create_app
from tests.helpers import make_settings
from tests.ticketing.conftest import Desk
from ticket_core import people
from ticket_core.db import Database
from ticket_core.models import AuditEvent, Message, OutboxMessage, Role, Ticket, User

PASSWORD = "correct horse battery"


@dataclass
class Api:
    client: TestClient
    desk: Desk
    delivered: list[int] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)

    async def login(self, username: str) -> str:
        if username not in self.tokens:
            resp = await self.client.post("/api/v1/login", json={"username": username, "password": PASSWORD})
            assert resp.status == 200, await resp.text()
            self.tokens[username] = (await resp.json())["token"]
        return self.tokens[username]

    async def call(self, username: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        token = await self.login(username)
        resp = await self.client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
        ctype = resp.headers.get("Content-Type", "")
        return resp.status, (await resp.json()) if "json" in ctype else await resp.text()


@pytest.fixture
async def api(tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path) -> AsyncIterator[Api]:
    settings = make_settings(tmp_path, db.url, secrets_, nlu_model_path)
    with db.session() as session:
        for username in (
            "university-ksu.coordinator1",
            "university-ksu.supervisor1",
            "university-kau.coordinator1",
            "edu-riyadh.supervisor1",
            "edu-al-kharj.coordinator1",
            "deputy-universities.head",
            "central-care.coordinator1",
            "student-protection.coordinator1",
            "gd-guidance.head",
        ):
            people.set_password(session, username, PASSWORD)
        admin = User(
            username="admin",
            name_ar="مدير النظام",
            name_en="Administrator",
            role=Role.ADMIN,
            password_hash=people.hash_password(PASSWORD),
        )
        session.add(admin)
    delivered: list[int] = []

    def publish_delivery(ids: Sequence[int]) -> bool:
        delivered.extend(ids)
        return True

    app = create_app(settings, db=db, publish=lambda ids: True, publish_delivery=publish_delivery)
    from hub.web.api.common import RUNTIME

    async with TestClient(TestServer(app)) as client:
        yield Api(client, Desk(app[RUNTIME], db), delivered)


# --- sign-in -----------------------------------------------------------------------------------------


async def test_wrong_password_and_unknown_user_get_the_same_answer_then_lockout(api: Api) -> None:
    wrong = await api.client.post(
        "/api/v1/login", json={"username": "university-ksu.coordinator1", "password": "nope nope nope"}
    )
    unknown = await api.client.post("/api/v1/login", json={"username": "nobody", "password": "nope nope nope"})
    assert wrong.status == unknown.status == 401
    assert (await wrong.json())["error"] == (await unknown.json())["error"] == "invalid_credentials"
    for _ in range(people.MAX_FAILURES - 1):
        await api.client.post("/api/v1/login", json={"username": "university-ksu.coordinator1", "password": "x" * 12})
    locked = await api.client.post(
        "/api/v1/login", json={"username": "university-ksu.coordinator1", "password": PASSWORD}
    )
    assert locked.status == 423 and (await locked.json())["error"] == "account_locked"


async def test_requests_without_a_session_are_401(api: Api) -> None:
    resp = await api.client.get("/api/v1/tickets")
    assert resp.status == 401 and (await resp.json())["error"] == "not_signed_in"
    resp = await api.client.get("/api/v1/tickets", headers={"Authorization": "Bearer forged"})
    assert resp.status == 401


async def test_cookie_sessions_need_the_csrf_token_for_changes(api: Api) -> None:
    number = api.desk.open("university-ksu")
    resp = await api.client.post(
        "/api/v1/login", json={"username": "university-ksu.coordinator1", "password": PASSWORD}
    )
    body = await resp.json()
    cookie = resp.cookies["tawasul_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    headers = {"Cookie": f"tawasul_session={body['token']}"}
    assert (await api.client.get("/api/v1/me", headers=headers)).status == 200
    blocked = await api.client.post(f"/api/v1/tickets/{number}/note", json={"text": "x"}, headers=headers)
    assert blocked.status == 403 and (await blocked.json())["error"] == "csrf"
    allowed = await api.client.post(
        f"/api/v1/tickets/{number}/note",
        json={"text": "ملاحظة"},
        headers={**headers, "X-CSRF-Token": body["csrf_token"]},
    )
    assert allowed.status == 200


# --- the authorisation matrix -------------------------------------------------------------------------

# Who sees a ticket in which unit: coordinators their own unit; supervisors and heads their unit and
# everything below it; administrators everything.
MATRIX = {
    "university-ksu.coordinator1": {"university-ksu": True, "university-kau": False, "edu-al-kharj": False},
    "university-kau.coordinator1": {"university-ksu": False, "university-kau": True, "edu-al-kharj": False},
    "university-ksu.supervisor1": {"university-ksu": True, "university-kau": False, "edu-al-kharj": False},
    "deputy-universities.head": {"university-ksu": True, "university-kau": True, "edu-al-kharj": False},
    "edu-riyadh.supervisor1": {"university-ksu": False, "university-kau": False, "edu-al-kharj": True},
    "edu-al-kharj.coordinator1": {"university-ksu": False, "university-kau": False, "edu-al-kharj": True},
    "admin": {"university-ksu": True, "university-kau": True, "edu-al-kharj": True},
}


async def test_every_person_sees_exactly_the_tickets_of_their_units(api: Api) -> None:
    numbers = {unit: api.desk.open(unit) for unit in ("university-ksu", "university-kau", "edu-al-kharj")}
    for username, expected in MATRIX.items():
        status, body = await api.call(username, "GET", "/api/v1/tickets?limit=200")
        assert status == 200
        listed = {t["number"] for t in body["tickets"]}
        for unit, visible in expected.items():
            assert (numbers[unit] in listed) is visible, (username, unit)
            detail, _ = await api.call(username, "GET", f"/api/v1/tickets/{numbers[unit]}")
            assert detail == (200 if visible else 404), (username, unit)
            timeline, _ = await api.call(username, "GET", f"/api/v1/tickets/{numbers[unit]}/timeline")
            assert timeline == (200 if visible else 404), (username, unit)
            action, _ = await api.call(username, "POST", f"/api/v1/tickets/{numbers[unit]}/note", {"text": "x"})
            assert action == (200 if visible else 404), (username, unit)


async def test_a_ticket_that_does_not_exist_looks_the_same_as_one_you_may_not_see(api: Api) -> None:
    hidden = api.desk.open("university-kau")
    a = await api.call("university-ksu.coordinator1", "GET", f"/api/v1/tickets/{hidden}")
    b = await api.call("university-ksu.coordinator1", "GET", "/api/v1/tickets/2099-999999")
    assert a == b and a[0] == 404


async def test_reports_are_for_supervisors(api: Api) -> None:
    assert (await api.call("university-ksu.coordinator1", "GET", "/api/v1/reports"))[0] == 403
    status, body = await api.call("university-ksu.supervisor1", "GET", "/api/v1/reports")
    assert status == 200 and "totals" in body


# --- actions -----------------------------------------------------------------------------------------------


async def test_take_over_reply_note_resolve_and_hand_back(api: Api) -> None:
    number = api.desk.open("university-ksu", text="مكافأتي متأخرة ثلاث شهور")
    me = "university-ksu.coordinator1"
    status, body = await api.call(me, "POST", f"/api/v1/tickets/{number}/takeover")
    assert status == 200 and body["ticket"]["status"] == "in_progress"
    status, body = await api.call(
        me, "POST", f"/api/v1/tickets/{number}/reply", {"text": "نعتذر عن التأخير، نراجع الأمر مع الشؤون المالية"}
    )
    assert status == 200 and len(api.delivered) == 1
    assert (await api.call(me, "POST", f"/api/v1/tickets/{number}/note", {"text": "اتصلت بالمالية"}))[0] == 200
    status, body = await api.call(me, "POST", f"/api/v1/tickets/{number}/resolve", {"text": "تم صرف المكافأة اليوم."})
    assert status == 200 and body["ticket"]["status"] == "answered"
    assert len(api.delivered) == 3  # the answer and the rating question
    assert (await api.call(me, "POST", f"/api/v1/tickets/{number}/handback"))[0] == 200
    status, timeline = await api.call(me, "GET", f"/api/v1/tickets/{number}/timeline")
    directions = [(i.get("direction"), i.get("author")) for i in timeline["items"] if i["type"] == "message"]
    assert ("note", "coordinator") in directions and directions.count(("out", "coordinator")) == 2
    with api.desk.db.read_session() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        actions_taken = set(
            session.execute(select(AuditEvent.action).where(AuditEvent.ticket_id == ticket.id)).scalars()
        )
        replies = session.execute(select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id)).scalars().all()
        authors = {
            m.user_id
            for m in session.execute(
                select(Message).where(Message.ticket_id == ticket.id, Message.user_id.is_not(None))
            ).scalars()
        }
    assert {
        "ticket.in_progress",
        "ticket.replied",
        "ticket.note",
        "ticket.answered",
        "conversation.handed_back",
    } <= actions_taken
    assert [r.channel for r in replies] == ["telegram"] * 3 and ticket.first_response_at is not None
    assert authors == {api.desk.user_id(me)}


async def test_transfer_escalate_and_illegal_moves_are_409(api: Api) -> None:
    number = api.desk.open("central-care")
    me = "central-care.coordinator1"
    status, body = await api.call(
        me, "POST", f"/api/v1/tickets/{number}/transfer", {"unit": "university-ksu", "reason": "جامعي"}
    )
    assert status == 200 and body["ticket"]["unit"]["key"] == "university-ksu"
    assert (await api.call(me, "GET", f"/api/v1/tickets/{number}"))[0] == 404  # no longer theirs
    ksu = "university-ksu.coordinator1"
    status, body = await api.call(ksu, "POST", f"/api/v1/tickets/{number}/escalate", {"reason": "يحتاج قرار"})
    assert status == 200 and body["level"] == 1
    status, body = await api.call(ksu, "POST", f"/api/v1/tickets/{number}/cancel", {})
    assert status == 409 and "reason" in body["message"]
    bad = await api.call(ksu, "POST", f"/api/v1/tickets/{number}/transfer", {"unit": "no-such-unit"})
    assert bad[0] == 400


async def test_filters_and_search(api: Api) -> None:
    a = api.desk.open("university-ksu", category="complaint", text="المكافأة ما نزلت")
    b = api.desk.open("university-ksu", category="inquiry", text="متى يبدأ التسجيل؟")
    me = "university-ksu.supervisor1"
    _, body = await api.call(me, "GET", "/api/v1/tickets?category=inquiry")
    assert [t["number"] for t in body["tickets"]] == [b]
    _, body = await api.call(me, "GET", f"/api/v1/tickets?q={a.replace('-', '')}")
    assert [t["number"] for t in body["tickets"]] == [a]
    arabic_digits = a.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    _, body = await api.call(me, "GET", f"/api/v1/tickets?q={arabic_digits}")
    assert [t["number"] for t in body["tickets"]] == [a]
    _, body = await api.call(me, "GET", "/api/v1/tickets?q=التسجيل")
    assert [t["number"] for t in body["tickets"]] == [b]
    _, body = await api.call(me, "GET", "/api/v1/tickets?sla=overdue")
    assert body["tickets"] == []
    status, body = await api.call(me, "GET", "/api/v1/tickets?sla=later")
    assert status == 400
    _, page1 = await api.call(me, "GET", "/api/v1/tickets?limit=1")
    _, page2 = await api.call(me, "GET", f"/api/v1/tickets?limit=1&after={page1['next']}")
    assert {page1["tickets"][0]["number"], page2["tickets"][0]["number"]} == {a, b}


async def test_linking_two_tickets_makes_one_citizen_with_one_timeline(api: Api) -> None:
    a = api.desk.open("university-ksu", user="tg-user", channel="telegram", text="مكافأتي ما نزلت")
    b = api.desk.open("university-ksu", user="portal-user", channel="portal", text="استفسار عن المكافأة")
    me = "university-ksu.coordinator1"
    status, body = await api.call(me, "POST", f"/api/v1/tickets/{a}/link", {"ticket": b, "reason": "نفس رقم الجوال"})
    assert status == 200 and body["linked"]
    _, timeline = await api.call(me, "GET", f"/api/v1/tickets/{a}/timeline")
    assert {i["ticket"] for i in timeline["items"] if i["type"] == "event"} == {a, b}
    hidden = api.desk.open("university-kau")
    assert (await api.call(me, "POST", f"/api/v1/tickets/{a}/link", {"ticket": hidden}))[0] == 404


async def test_a_recorded_snapchat_message_gets_a_manual_reply_a_coordinator_confirms(
    tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path
) -> None:
    from hub.web.api.common import RUNTIME

    settings = make_settings(tmp_path, db.url, secrets_, nlu_model_path, snapchat_enabled=True)
    with db.session() as session:
        people.set_password(session, "central-care.coordinator1", PASSWORD)
        session.add(
            User(
                username="admin",
                name_ar="مدير",
                name_en="Admin",
                role=Role.ADMIN,
                password_hash=people.hash_password(PASSWORD),
            )
        )
    queued: list[int] = []
    app = create_app(settings, db=db, publish=lambda ids: queued.extend(ids) or True, publish_delivery=lambda ids: True)
    async with TestClient(TestServer(app)) as client:
        api = Api(client, Desk(app[RUNTIME], db))
        me = "central-care.coordinator1"
        status, body = await api.call(
            me,
            "POST",
            "/api/v1/snapchat/messages",
            {"snap_user": "noura.s", "display_name": "نورة", "text": "ودي أعرف متى نتائج الفصل الأول"},
        )
        assert status == 202 and queued == [body["inbox_id"]]
        runtime = app[RUNTIME]
        outcome = runtime.pipeline.process(queued[0])
        assert outcome.ticket_number and outcome.outbox_ids
        [delivery] = await runtime.delivery.deliver_many(outcome.outbox_ids)
        assert delivery.status == "manual"
        # Wherever routing sent the ticket, an administrator sees the item waiting to be sent by hand.
        _, manual = await api.call("admin", "GET", "/api/v1/outbox/manual")
        assert [m["id"] for m in manual["manual"]] == outcome.outbox_ids
        assert outcome.ticket_number in manual["manual"][0]["text"] and manual["manual"][0]["to"] == "noura.s"
        status, _ = await api.call("admin", "POST", f"/api/v1/outbox/{outcome.outbox_ids[0]}/sent")
        assert status == 200
        with db.read_session() as session:
            assert session.get(OutboxMessage, outcome.outbox_ids[0]).status.value == "sent"  # type: ignore[union-attr]
        assert (await api.call("admin", "POST", f"/api/v1/outbox/{outcome.outbox_ids[0]}/sent"))[0] == 404
        missing, _ = await api.call(me, "POST", "/api/v1/snapchat/messages", {"snap_user": "x"})
        assert missing == 400


async def test_two_coordinators_cannot_both_take_the_same_conversation(api: Api) -> None:
    number = api.desk.open("university-ksu")
    with api.desk.db.session() as session:
        people.set_password(session, "university-ksu.coordinator2", PASSWORD)
    first = await api.call("university-ksu.coordinator1", "POST", f"/api/v1/tickets/{number}/takeover")
    second = await api.call("university-ksu.coordinator2", "POST", f"/api/v1/tickets/{number}/takeover")
    assert first[0] == 200
    assert (
        second[0] == 409 and second[1]["error"] == "already_taken" and "already being handled" in second[1]["message"]
    )
    again = await api.call("university-ksu.coordinator1", "POST", f"/api/v1/tickets/{number}/takeover")
    assert again[0] == 409 or again[0] == 200  # the owner taking it again changes nothing


async def test_urgent_tickets_are_seen_only_by_their_unit_supervisors_and_admins_and_every_view_is_audited(
    api: Api,
) -> None:
    number = api.desk.open("student-protection", text="طالب في خطر")
    with api.desk.db.session() as session:
        ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        ticket.priority = "urgent"
    who_sees = {
        "student-protection.coordinator1": True,  # the assigned unit
        "gd-guidance.head": True,  # the unit above it
        "admin": True,
        "central-care.coordinator1": False,
        "edu-riyadh.supervisor1": False,  # a supervisor of another branch
    }
    for username, visible in who_sees.items():
        status, _ = await api.call(username, "GET", f"/api/v1/tickets/{number}")
        assert status == (200 if visible else 404), username
        status, _ = await api.call(username, "GET", f"/api/v1/tickets/{number}/timeline")
        assert status == (200 if visible else 404), username
    with api.desk.db.read_session() as session:
        views = (
            session.execute(
                select(AuditEvent.actor).where(AuditEvent.action == "ticket.viewed", AuditEvent.ticket_id == ticket.id)
            )
            .scalars()
            .all()
        )
    assert len(views) == 2 * sum(who_sees.values())  # detail and timeline, for everyone who saw it
