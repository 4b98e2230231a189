"""The console's pages and API additions without a browser: scope, escaping, reply limits, the quality
review, dashboard series against hand counts, live events by scope, duty, canned responses, charts and
the colour contrast of the stylesheet."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from hub.web.api.console_api import reply_limits
from hub.web.app import create_app
from hub.web.console import charts
from hub.web.console.text import inert
from tests.console.helpers import REPO, open_ticket
from tests.helpers import make_settings
from ticket_core import canned, dashboard, people
from ticket_core.db import Database
from ticket_core.models import CannedResponse, CsatRating, QualityReview, Role, Ticket, TicketStatus, User
from ticket_core.org import OrgTree
from ticket_core.reports import Period

PASSWORD = "correct horse battery"
TZ = ZoneInfo("Asia/Riyadh")


@dataclass
class Console:
    client: TestClient
    db: Database
    delivered: list[int] = field(default_factory=list)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def login(self, username: str) -> dict[str, Any]:
        if username not in self.tokens:
            resp = await self.client.post("/api/v1/login", json={"username": username, "password": PASSWORD})
            assert resp.status == 200, await resp.text()
            self.tokens[username] = await resp.json()
        return self.tokens[username]

    async def get(self, username: str, path: str) -> tuple[int, str]:
        token = (await self.login(username))["token"]
        resp = await self.client.get(path, headers={"Cookie": f"tawasul_session={token}"}, allow_redirects=False)
        return resp.status, await resp.text()

    async def call(self, username: str, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        token = (await self.login(username))["token"]
        resp = await self.client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
        ctype = resp.headers.get("Content-Type", "")
        return resp.status, (await resp.json()) if "json" in ctype else await resp.text()


USERS = (
    "central-care.coordinator1",
    "central-care.coordinator2",
    "central-care.supervisor1",
    "university-ksu.coordinator1",
    "university-ksu.supervisor1",
)


@pytest.fixture
async def console(
    tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path
) -> AsyncIterator[Console]:
    settings = make_settings(tmp_path, db.url, secrets_, nlu_model_path)
    with db.session() as session:
        for username in USERS:
            people.set_password(session, username, PASSWORD)
        session.add(
            User(
                username="admin",
                name_ar="مدير",
                name_en="Admin",
                role=Role.ADMIN,
                password_hash=people.hash_password(PASSWORD),
            )
        )
        canned.seed_canned(session, REPO / "data" / "canned.yml")
    delivered: list[int] = []

    def publish_delivery(ids: Sequence[int]) -> bool:
        delivered.extend(ids)
        return True

    app = create_app(settings, db=db, publish=lambda ids: True, publish_delivery=publish_delivery)
    async with TestClient(TestServer(app), cookie_jar=CookieJar(unsafe=True)) as client:
        yield Console(client, db, delivered)


# --- pages ---------------------------------------------------------------------------------------------


async def test_pages_need_a_session_and_each_role_has_its_home(console: Console) -> None:
    resp = await console.client.get("/console/inbox", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/console/login?next=")
    homes = {
        "central-care.coordinator1": "/console/inbox",
        "central-care.supervisor1": "/console/dashboard",
        "admin": "/console/settings",
    }
    for username, home in homes.items():
        status, _ = await console.get(username, "/console/")
        assert status == 303
        token = (await console.login(username))["token"]
        resp = await console.client.get(
            "/console/", headers={"Cookie": f"tawasul_session={token}"}, allow_redirects=False
        )
        assert resp.headers["Location"] == home
    assert (await console.get("central-care.coordinator1", "/console/dashboard"))[0] == 403
    assert (await console.get("central-care.supervisor1", "/console/settings"))[0] == 403


async def test_the_login_page_is_arabic_first_and_english_is_remembered(console: Console) -> None:
    resp = await console.client.get("/console/login")
    html = await resp.text()
    assert '<html lang="ar" dir="rtl">' in html and "تسجيل الدخول" in html
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    resp = await console.client.get("/console/lang?to=en&next=/console/login", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/login"
    assert resp.cookies["tawasul_lang"].value == "en"
    resp = await console.client.get("/console/login", headers={"Cookie": "tawasul_lang=en"})
    assert '<html lang="en" dir="ltr">' in await resp.text()
    evil = await console.client.get("/console/lang?to=en&next=//evil.example/", allow_redirects=False)
    assert evil.headers["Location"] == "/console/"


async def test_the_inbox_lists_only_my_units_and_other_tickets_are_404(console: Console) -> None:
    mine = open_ticket(console.db, "central-care", text="مكافأة متأخرة", name="سارة")
    theirs = open_ticket(console.db, "university-ksu", text="قبول جامعي", name="خالد")
    status, html = await console.get("central-care.coordinator1", "/console/inbox")
    assert status == 200 and mine in html and theirs not in html
    assert (await console.get("central-care.coordinator1", f"/console/tickets/{theirs}"))[0] == 404
    assert (await console.get("central-care.coordinator1", "/console/tickets/2099-999999"))[0] == 404
    status, html = await console.get("central-care.coordinator1", f"/console/inbox?q={mine.replace('-', '')}")
    assert mine in html
    status, rows = await console.get("central-care.coordinator1", "/console/inbox?partial=rows&category=inquiry")
    assert status == 200 and mine not in rows and "<html" not in rows


async def test_citizen_text_is_escaped_and_bidi_controls_are_neutralised(console: Console) -> None:
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)> ٠٥٠ \u202e1234\u202c \u2066x\u2069"
    number = open_ticket(console.db, "central-care", text=evil, name="<b>اسم</b>\u202e")
    status, html = await console.get("central-care.coordinator1", f"/console/tickets/{number}")
    assert status == 200
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", html)
    assert html.count("U+202E") >= 2 and "U+2066" in html and "U+2069" in html
    assert str(inert("a\u202eb")) == 'a<bdi class="ctl" dir="ltr" title="bidi control U+202E">U+202E</bdi>b'


# --- reply limits --------------------------------------------------------------------------------------


def test_reply_limits_come_from_capabilities_and_the_last_inbound_message() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    telegram = reply_limits("telegram", now - timedelta(days=30), now)
    assert (telegram.window, telegram.max_text_length, telegram.manual_delivery) == ("none", 4096, False)
    whatsapp = reply_limits("whatsapp", now - timedelta(hours=2), now)
    assert whatsapp.window == "open" and whatsapp.after_close == "refused"
    assert whatsapp.window_closes_at == (now + timedelta(hours=22)).isoformat()
    assert reply_limits("whatsapp", now - timedelta(hours=25), now).window == "closed"
    instagram = reply_limits("instagram", now - timedelta(hours=30), now)
    assert instagram.window == "human_agent" and instagram.length_unit == "bytes"
    assert instagram.human_agent_until == (now - timedelta(hours=30) + timedelta(days=7)).isoformat()
    assert reply_limits("facebook", now - timedelta(days=8), now).window == "closed"
    assert reply_limits("facebook", None, now).window == "unknown"
    assert reply_limits("snapchat", None, now).manual_delivery


async def test_reply_limits_endpoint_is_scoped(console: Console) -> None:
    number = open_ticket(console.db, "central-care", channel="whatsapp")
    status, body = await console.call("central-care.coordinator1", "GET", f"/api/v1/tickets/{number}/reply-limits")
    assert status == 200 and body["channel"] == "whatsapp" and body["window"] in ("open", "unknown")
    assert (await console.call("university-ksu.coordinator1", "GET", f"/api/v1/tickets/{number}/reply-limits"))[
        0
    ] == 404


# --- quality review, dashboard ------------------------------------------------------------------------------


async def test_quality_review_queue_scores_the_rubric_and_sends_back(console: Console) -> None:
    number = open_ticket(console.db, "central-care")
    other = open_ticket(console.db, "university-ksu")
    with console.db.session() as session:
        for n in (number, other):
            ticket = session.execute(select(Ticket).where(Ticket.number == n)).scalar_one()
            ticket.status = TicketStatus.ANSWERED
            session.add(QualityReview(ticket_id=ticket.id, reason="low_csat", status="pending"))
    assert (await console.call("central-care.coordinator1", "GET", "/api/v1/quality-reviews"))[0] == 403
    status, body = await console.call("central-care.supervisor1", "GET", "/api/v1/quality-reviews")
    assert status == 200 and [r["ticket"] for r in body["reviews"]] == [number]
    assert set(body["rubric"]) == {"accuracy", "clarity", "courtesy", "resolution", "timeliness"}
    review_id = body["reviews"][0]["id"]
    path = f"/api/v1/quality-reviews/{review_id}"
    status, bad = await console.call("central-care.supervisor1", "POST", path, {"scores": {"accuracy": 3}})
    assert status == 400 and "missing" in bad["message"]
    scores = dict.fromkeys(body["rubric"], 2)
    status, _ = await console.call("central-care.supervisor1", "POST", path, {"scores": scores, "send_back": True})
    assert status == 400  # sending back needs a comment
    status, done = await console.call(
        "central-care.supervisor1", "POST", path, {"scores": scores, "send_back": True, "comment": "أعد الصياغة"}
    )
    assert status == 200 and done["sent_back"]
    with console.db.read_session() as session:
        assert (
            session.execute(select(Ticket.status).where(Ticket.number == number)).scalar_one() is TicketStatus.REOPENED
        )
    status, html = await console.get("central-care.supervisor1", "/console/dashboard")
    assert status == 200 and html.count('<figure class="chart"') == 9 and 'class="chart-svg"' in html


def test_dashboard_series_match_hand_counts(db: Database) -> None:
    now = datetime.now(UTC)
    day = lambda d: (now - timedelta(days=d)).replace(hour=9, minute=0, second=0, microsecond=0)  # noqa: E731
    specs = [  # (days ago, category, channel, answered after hours, in time?, objected, level, rating)
        (2, "inquiry", "telegram", 5, True, False, 0, 5),
        (2, "complaint", "telegram", 200, False, True, 1, 2),
        (2, "complaint", "portal", None, None, False, 0, None),
        (1, "inquiry", "portal", 10, True, False, 2, 4),
    ]
    with db.session() as session:
        tree = OrgTree.load(session)
    numbers = []
    for ago, category, channel, hours, _, objected, level, rating in specs:
        number = open_ticket(db, "central-care", category=category, channel=channel, created=day(ago))
        numbers.append(number)
        with db.session() as session:
            t = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
            if hours is not None:
                t.first_response_at = t.created_at + timedelta(hours=hours)
                t.first_response_working_h = float(hours)
                t.resolution_working_h = float(hours) * 2
            t.objection_count = 1 if objected else 0
            t.escalation_level = level
            if rating:
                session.add(
                    CsatRating(
                        ticket_id=t.id, score=rating, channel=channel, created_at=t.created_at + timedelta(hours=1)
                    )
                )
    unit_ids = frozenset({tree.by_key["central-care"].id})
    period = Period(now - timedelta(days=7), now)
    with db.read_session() as session:
        board = dashboard.dashboard(session, period, tree, now=now, tz=TZ, unit_ids=unit_ids)
    d2, d1 = (day(2).astimezone(TZ).date().isoformat(), day(1).astimezone(TZ).date().isoformat())
    i2, i1 = board.days.index(d2), board.days.index(d1)
    assert board.tickets[i2] == 3 and board.tickets[i1] == 1 and sum(board.tickets) == 4
    assert board.by_category["complaint"][i2] == 2 and board.by_category["inquiry"][i1] == 1
    assert board.by_channel["telegram"][i2] == 2 and board.by_channel["portal"] == [
        (1 if i in (i1, i2) else 0) for i in range(len(board.days))
    ]
    assert sum(sum(v) for v in board.by_sector.values()) == 4
    assert board.sla_compliance[i2] == 0.5 and board.sla_compliance[i1] == 1.0  # 200 h is past 5 working days
    assert board.objection_rate[i2] == 0.5
    assert board.first_response_h[i2] == 102.5 and board.first_response_h[i1] == 10.0  # median of 5 and 200
    assert board.csat_average[i2] == 3.5 and board.csat_ratings[i2] == 2
    assert board.escalations_by_level == {1: 1, 2: 1}
    assert dict(board.top_topics) == {"complaint": 2, "inquiry": 2}
    assert board.totals["tickets"] == 4 and board.totals["first_response_median_working_h"] == 10.0
    assert board.totals["csat_average"] == round((5 + 2 + 4) / 3, 2)
    csv_text = dashboard.to_csv(board)
    assert csv_text.splitlines()[0].startswith("day,tickets,sla_compliance") and f"{d2},3," in csv_text
    with db.read_session() as session:
        other = dashboard.dashboard(
            session, period, tree, now=now, tz=TZ, unit_ids=frozenset({tree.by_key["university-ksu"].id})
        )
    assert sum(other.tickets) == 0


async def test_dashboard_api_csv_and_roles(console: Console) -> None:
    open_ticket(console.db, "central-care")
    assert (await console.call("central-care.coordinator1", "GET", "/api/v1/dashboard"))[0] == 403
    status, body = await console.call("central-care.supervisor1", "GET", "/api/v1/dashboard")
    assert status == 200 and sum(body["tickets"]) == 1 and len(body["days"]) >= 30
    status, text = await console.call("central-care.supervisor1", "GET", "/api/v1/dashboard?format=csv")
    assert status == 200 and text.startswith("day,tickets")
    assert (await console.call("central-care.supervisor1", "GET", "/api/v1/dashboard?from=2026-02-01&to=2026-01-01"))[
        0
    ] == 400


# --- live events ---------------------------------------------------------------------------------------------


async def _events(resp: Any, wanted: int, timeout: float) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    kind = ""

    async def read() -> None:
        nonlocal kind
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                out.append((kind, json.loads(line[6:])))
                if len([k for k, _ in out if k != "hello"]) >= wanted:
                    return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(read(), timeout)
    return out


async def test_live_events_reach_the_people_who_may_see_them(console: Console) -> None:
    number = open_ticket(console.db, "central-care")
    tokens = {
        u: (await console.login(u))["token"] for u in ("central-care.coordinator1", "university-ksu.coordinator1")
    }
    mine = await console.client.get(
        "/api/v1/events", headers={"Authorization": f"Bearer {tokens['central-care.coordinator1']}"}
    )
    theirs = await console.client.get(
        "/api/v1/events", headers={"Cookie": f"tawasul_session={tokens['university-ksu.coordinator1']}"}
    )
    assert mine.status == 200 and mine.headers["Content-Type"].startswith("text/event-stream")
    hello = await _events(mine, 0, 2)
    assert hello and hello[0][0] == "hello"
    await _events(theirs, 0, 2)
    await asyncio.sleep(0.7)  # the feed's first poll sets its starting point
    started = asyncio.get_running_loop().time()
    status, _ = await console.call(
        "central-care.coordinator1", "POST", f"/api/v1/tickets/{number}/note", {"text": "ملاحظة"}
    )
    assert status == 200
    got = await _events(mine, 2, 5)
    delay = asyncio.get_running_loop().time() - started
    kinds = {(k, d.get("ticket")) for k, d in got}
    assert ("message", number) in kinds and ("ticket", number) in kinds
    assert delay < 2.0
    assert [e for e in await _events(theirs, 1, 1.5) if e[0] != "hello"] == []
    mine.close()
    theirs.close()
    assert (await console.client.get("/api/v1/events")).status == 401


# --- duty, notifications, canned --------------------------------------------------------------------------------


async def test_going_off_duty_hands_tickets_back_and_on_duty_takes_the_queue(console: Console) -> None:
    with console.db.session() as session:  # only coordinator1 is on duty in the unit
        session.execute(
            update(User)
            .where(User.username.like("university-ksu.coordinator%"), User.username != "university-ksu.coordinator1")
            .values(on_duty=False)
        )
    numbers = [open_ticket(console.db, "university-ksu") for _ in range(2)]
    with console.db.read_session() as session:
        owners = set(session.execute(select(Ticket.assignee_id).where(Ticket.number.in_(numbers))).scalars())
        me = session.execute(select(User.id).where(User.username == "university-ksu.coordinator1")).scalar_one()
    assert owners == {me}
    status, body = await console.call(
        "university-ksu.coordinator1", "POST", f"/api/v1/users/{me}/duty", {"on_duty": False}
    )
    assert status == 200 and body["on_duty"] is False
    with console.db.read_session() as session:
        assert set(session.execute(select(Ticket.assignee_id).where(Ticket.number.in_(numbers))).scalars()) == {None}
    status, body = await console.call(
        "university-ksu.supervisor1", "POST", f"/api/v1/users/{me}/duty", {"on_duty": True}
    )
    assert status == 200 and body["moved"] == 2
    assert (await console.call("central-care.coordinator2", "POST", f"/api/v1/users/{me}/duty", {"on_duty": False}))[
        0
    ] == 404
    status, body = await console.call("university-ksu.supervisor1", "GET", "/api/v1/users")
    assert status == 200 and any(u["username"] == "university-ksu.coordinator1" and u["on_duty"] for u in body["users"])


async def test_notifications_are_marked_read(console: Console) -> None:
    open_ticket(console.db, "university-ksu")  # assigned: one notification
    status, body = await console.call("university-ksu.coordinator1", "GET", "/api/v1/notifications")
    assert status == 200 and body["notifications"]
    ids = [n["id"] for n in body["notifications"]]
    status, read = await console.call("university-ksu.coordinator1", "POST", "/api/v1/notifications/read", {"ids": ids})
    assert status == 200 and read["read"] == len(ids)
    assert (await console.call("university-ksu.coordinator1", "GET", "/api/v1/notifications"))[1]["notifications"] == []


def test_canned_responses_seed_idempotently_and_follow_units(db: Database, tmp_path: Path) -> None:
    with db.session() as session:
        first = canned.seed_canned(session, REPO / "data" / "canned.yml")
        again = canned.seed_canned(session, REPO / "data" / "canned.yml")
        assert first.responses == again.responses >= 8 and again.removed == 0
        rows = session.execute(select(CannedResponse)).scalars().all()
        assert all(r.text_ar and r.text_en and r.title_ar and r.title_en for r in rows)
        ksu_only = [r for r in rows if r.unit_id is not None]
        assert ksu_only
        central = {c["key"] for c in canned.for_units(session, {ksu_only[0].unit_id + 10_000})}
        assert ksu_only[0].key not in central and "greeting" in central
    bad = tmp_path / "canned.yml"
    bad.write_text("responses:\n  - key: a\n    title_ar: x\n", encoding="utf-8")
    with pytest.raises(canned.CannedFileError, match=r"canned\.yml: entry 'a' has no title_en"):
        canned.read_canned_file(bad)


# --- charts and colours --------------------------------------------------------------------------------------------


def test_charts_are_inline_svg_with_text_alternatives_and_no_inline_styles() -> None:
    html = str(
        charts.line_chart(
            "<حجم>",
            ["2026-11-01", "2026-11-02", "2026-11-03"],
            {"a<b": [1, None, 3], "c": [2, 2, 2]},
            rtl=True,
            day_label="day",
            table_label="table",
            empty_label="empty",
        )
    )
    assert 'role="img"' in html and "<table>" in html and "&lt;حجم&gt;" in html and "a&lt;b" in html
    assert "style=" not in html and "<script" not in html
    bars = str(
        charts.bar_chart("t", [("x", 3.0)], rtl=False, label_head="l", value_head="v", table_label="d", empty_label="e")
    )
    assert "<rect" in bars and "style=" not in bars
    assert "empty" in str(
        charts.bar_chart("t", [], rtl=False, label_head="l", value_head="v", table_label="d", empty_label="empty")
    )


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_text_colours_meet_wcag_aa_contrast() -> None:
    css = (REPO / "hub" / "web" / "console" / "static" / "console.css").read_text()
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", css))
    pairs = [
        ("ink", "bg"), ("ink", "card"), ("muted", "card"), ("muted", "bg"), ("link", "card"), ("brand-ink", "brand"),
        ("ok-ink", "ok-bg"), ("warn-ink", "warn-bg"), ("bad-ink", "bad-bg"), ("idle-ink", "idle-bg"), ("info-ink", "info-bg"),
    ]  # fmt: skip
    for fg, bg in pairs:
        assert _contrast(colours[fg], colours[bg]) >= 4.5, (fg, bg, _contrast(colours[fg], colours[bg]))
    for colour in charts.PALETTE:  # lines and bars against the white card: 3:1 for graphics
        assert _contrast(colour, "#ffffff") >= 3.0, colour
    assert _contrast(colours["focus"], "#ffffff") >= 3.0
