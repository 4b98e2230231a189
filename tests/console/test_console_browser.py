"""The console in a real browser (Debian's Chromium driven by Playwright) against the real hub.

One hub for the module: ``fakes.stack.LocalStack`` runs ``tawasul serve`` and ``tawasul worker`` as
processes on SQLite with the embedded broker, against the fake Telegram Bot API on loopback. A
citizen writes through a signed Telegram webhook; a coordinator signs in, sees only their unit's
tickets, takes the conversation over and replies, and the fake Bot API receives the reply. Another
message arrives while the conversation is open and appears without a reload. Screenshots of the
inbox, a conversation and the dashboard go to ``docs/screenshots/``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from fakes.stack import LocalStack, wait_for
from fakes.telegram import telegram_update
from tests.console.helpers import open_ticket, seed_history
from ticket_core import people
from ticket_core.canned import seed_canned
from ticket_core.db import Database
from ticket_core.models import Conversation, MemberRole, Role, Ticket, Unit, UnitMember, User

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
PASSWORD = "console-test-password"
EVIL = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> رقم الطلب \u202e4321\u202c و \u2067abc\u2069'

pytestmark = [
    pytest.mark.slow,
    # One hub and one browser for the module, and the tests build on each other: make test runs
    # pytest-xdist with --dist loadfile, which keeps a file's tests on one worker, in order.
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (make browser installs it)"),
]


@pytest.fixture(scope="module")
def trained(nlu_model_path: Path) -> Path:
    """The session's NLU model, trained once (the hub's processes load it instead of training)."""
    import nlu

    nlu.configure(model_path=nlu_model_path)
    nlu.analyse("تجربة")
    return nlu_model_path


class Hub:
    """The running stack plus what the tests learned about it."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.db = Database(stack.database_url)
        self.facts: dict[str, Any] = {}

    @property
    def url(self) -> str:
        return self.stack.url

    def ticket_of_chat(self, chat_id: int) -> Ticket | None:
        with self.db.read_session() as s:
            ticket = s.execute(
                select(Ticket)
                .join(Conversation, Conversation.id == Ticket.conversation_id)
                .where(Conversation.channel == "telegram", Conversation.thread_ref == str(chat_id))
                .order_by(Ticket.id)
                .limit(1)
            ).scalar_one_or_none()
            if ticket is not None:
                s.expunge(ticket)
            return ticket

    def username(self, user_id: int) -> str:
        with self.db.read_session() as s:
            return s.execute(select(User.username).where(User.id == user_id)).scalar_one()

    def unit_key(self, unit_id: int) -> str:
        with self.db.read_session() as s:
            return s.execute(select(Unit.key).where(Unit.id == unit_id)).scalar_one()

    def members(self, unit_id: int, role: MemberRole) -> list[str]:
        with self.db.read_session() as s:
            return list(
                s.execute(
                    select(User.username)
                    .join(UnitMember, UnitMember.user_id == User.id)
                    .where(UnitMember.unit_id == unit_id, UnitMember.role == role.value)
                    .order_by(User.username)
                ).scalars()
            )

    def set_password(self, username: str) -> None:
        with self.db.session() as s:
            people.set_password(s, username, PASSWORD)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, trained: Path) -> Iterator[Hub]:
    tmp = tmp_path_factory.mktemp("console-hub")
    stack = LocalStack(
        tmp,
        database_url=f"sqlite:///{tmp / 'hub.db'}",
        broker_url=f"sqla+sqlite:///{tmp / 'broker.sqlite'}",
        model=trained,
    )
    stack.env["TAWASUL_QUEUE_PREFIX"] = f"console{int(time.time())}"
    try:
        stack.prepare()
        hub = Hub(stack)
        with hub.db.session() as s:
            seed_canned(s, REPO / "data" / "canned.yml")
            s.add(User(username="console-admin", name_ar="مدير النظام", name_en="Administrator", role=Role.ADMIN))
        hub.set_password("console-admin")
        stack.start_web()
        stack.start_worker()
        yield hub
    except Exception:
        print(stack.logs())
        raise
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _page(browser: Any, lang: str | None = None, width: int = 1280, height: int = 800) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="ar-SA")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def _login(page: Any, hub: Hub, username: str, *, next_path: str = "") -> None:
    page.goto(f"{hub.url}/console/login" + (f"?next={next_path}" if next_path else ""))
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(lambda url: "/console/login" not in url)


# --- the tests, in the order a working day goes ------------------------------------------------------


def test_a_citizen_writes_and_the_coordinator_sees_only_their_units_tickets(hub: Hub, browser: Any) -> None:
    chat = 7770001
    status, _ = hub.stack.post_telegram(
        telegram_update(990000001, chat, "السلام عليكم، مكافأة ابني الجامعية متأخرة ثلاثة أشهر ولم يرد علي أحد")
    )
    assert status == 200
    ticket = wait_for(lambda: hub.ticket_of_chat(chat), 60, "the ticket for the citizen's message")
    wait_for(lambda: hub.ticket_of_chat(chat).assignee_id, 30, "the ticket to be assigned")  # type: ignore[union-attr]
    ticket = hub.ticket_of_chat(chat)
    assert ticket is not None and ticket.assignee_id is not None
    coordinator = hub.username(ticket.assignee_id)
    unit_key = hub.unit_key(ticket.unit_id)
    # The same citizen sends markup and bidi overrides (shown inert later).
    hub.stack.post_telegram(telegram_update(990000002, chat, EVIL))
    wait_for(
        lambda: len([m for m in hub.stack.telegram_texts() if m[0] == chat]) >= 2,
        60,
        "the bot's answers to both messages",
    )
    # A ticket of another unit, opened directly in the database.
    other_unit = "university-kau" if unit_key != "university-kau" else "university-ksu"
    hidden = open_ticket(hub.db, other_unit, text="طلب لا يخص هذه الجهة", name="مستفيد آخر")
    hub.facts |= {"chat": chat, "number": ticket.number, "coordinator": coordinator, "unit": ticket.unit_id}
    hub.set_password(coordinator)

    page = _page(browser)
    _login(page, hub, coordinator)
    assert page.url.endswith("/console/inbox")
    assert page.locator("html").get_attribute("dir") == "rtl" and page.locator("html").get_attribute("lang") == "ar"
    numbers = page.locator("#inbox-rows tr[data-number]").evaluate_all("rows => rows.map(r => r.dataset.number)")
    assert ticket.number in numbers and hidden not in numbers
    page.fill("#f-q", hidden)
    page.click("form.filters button[type=submit]")
    assert page.locator("#inbox-rows tr[data-number]").count() == 0
    response = page.goto(f"{hub.url}/console/tickets/{hidden}")
    assert response is not None and response.status == 404
    page.goto(f"{hub.url}/console/inbox")
    page.locator(f'tr[data-number="{ticket.number}"]').wait_for()
    page.screenshot(path=str(SCREENSHOTS / "inbox.png"))
    # Keyboard: the first Tab reaches the skip link, which moves focus to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.context.close()


def test_lockout_is_shown_clearly(hub: Hub, browser: Any) -> None:
    victim = "central-care.coordinator6"
    hub.set_password(victim)
    page = _page(browser)
    page.goto(f"{hub.url}/console/login")
    statuses = []
    for _ in range(people.MAX_FAILURES):
        page.fill("#username", victim)
        page.fill("#password", "wrong password here")
        with page.expect_response("**/api/v1/login") as answer:
            page.click("#login-form button[type=submit]")
        statuses.append(answer.value.status)
    assert statuses == [401] * (people.MAX_FAILURES - 1) + [423]
    page.fill("#password", PASSWORD)
    with page.expect_response("**/api/v1/login") as answer:
        page.click("#login-form button[type=submit]")
    assert answer.value.status == 423  # even the right password, until the lock ends
    page.locator("#login-error", has_text="قفل").wait_for()  # (wait_for_function would need 'unsafe-eval')
    assert "قفل الحساب" in page.locator("#login-error").inner_text()
    assert page.url.endswith("/console/login")
    page.context.close()


def test_citizen_markup_and_bidi_overrides_render_inert(hub: Hub, browser: Any) -> None:
    page = _page(browser)
    _login(page, hub, hub.facts["coordinator"], next_path=f"/console/tickets/{hub.facts['number']}")
    texts = page.locator(".timeline .author-citizen .text")
    texts.first.wait_for()
    evil = [t for t in texts.all_inner_texts() if "window.__pwned" in t]
    assert evil, texts.all_inner_texts()
    assert "<script>" in evil[0] and "onerror" in evil[0]
    assert page.evaluate("window.__pwned") is None
    dom_text = page.evaluate("document.getElementById('timeline').textContent")
    assert not any(ch in dom_text for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    assert page.locator(".timeline bdi.ctl").count() >= 4  # each control shown as a marker instead
    assert page.locator(".timeline script, .timeline img").count() == 0
    page.context.close()


def test_take_over_and_reply_reaches_the_telegram_citizen(hub: Hub, browser: Any) -> None:
    page = _page(browser)
    number = hub.facts["number"]
    _login(page, hub, hub.facts["coordinator"], next_path=f"/console/tickets/{number}")
    assert "4096" in page.locator("#reply-limits").inner_text()
    page.click("#take-over")
    page.locator("#hand-back").wait_for()
    assert "يتولاها منسق" in page.locator("#conv-state").inner_text()
    page.select_option("#canned", "greeting")
    assert number in page.input_value("#reply-text")
    reply = "نعتذر عن التأخير، تمت مخاطبة الشؤون المالية وسيصلك إشعار خلال يومين. Ref 2026/11"
    page.fill("#reply-text", reply)
    assert "/ 4096" in page.locator("#reply-counter").inner_text()
    page.click("#send-reply")
    page.locator("#flash:not([hidden])").wait_for()
    sent = wait_for(
        lambda: [text for chat, text in hub.stack.telegram_texts() if chat == hub.facts["chat"] and text == reply],
        30,
        "the coordinator's reply at the fake Telegram Bot API",
    )
    assert sent == [reply]
    page.locator(".timeline .author-coordinator .text", has_text="نعتذر عن التأخير").wait_for()
    # A second coordinator of the unit cannot take the same conversation.
    colleagues = [u for u in hub.members(hub.facts["unit"], MemberRole.COORDINATOR) if u != hub.facts["coordinator"]]
    other = _page(browser)
    hub.set_password(colleagues[0])
    _login(other, hub, colleagues[0], next_path=f"/console/tickets/{number}")
    assert other.locator(".banner.warn").count() == 1
    other.click("#take-over")
    alert = other.locator("#action-result:not([hidden])")
    alert.wait_for()
    assert "منسق آخر" in alert.inner_text()
    other.context.close()
    page.context.close()


def test_a_new_message_appears_live_without_a_reload(hub: Hub, browser: Any) -> None:
    page = _page(browser)
    number = hub.facts["number"]
    _login(page, hub, hub.facts["coordinator"], next_path=f"/console/tickets/{number}")
    page.locator("#live-status.on").wait_for()
    page.evaluate("window.__sameDocument = 'yes'")
    text = "وصلني إشعار؟ Still waiting، رقم 5566"
    started = time.monotonic()
    status, _ = hub.stack.post_telegram(telegram_update(990000003, hub.facts["chat"], text))
    assert status == 200
    page.locator(".timeline .author-citizen .text", has_text="رقم 5566").wait_for(timeout=20_000)
    hub.facts["live_s"] = time.monotonic() - started
    assert page.evaluate("window.__sameDocument") == "yes"  # the same document: no reload happened
    assert page.evaluate("window.tawasulLive.events.length") >= 1
    page.locator(".timeline .author-coordinator").first.wait_for()
    page.locator("#timeline-h").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "conversation.png"))
    # The tablet width keeps everything reachable without sideways scrolling.
    page.set_viewport_size({"width": 768, "height": 1024})
    assert page.evaluate("document.documentElement.scrollWidth") <= 770
    page.context.close()


def test_the_supervisor_dashboard_renders_its_charts_and_review_queue(hub: Hub, browser: Any) -> None:
    unit_key = hub.unit_key(hub.facts["unit"])
    seed_history(hub.db, unit_key, count=80)
    supervisors = hub.members(hub.facts["unit"], MemberRole.SUPERVISOR) or hub.members(
        hub.facts["unit"], MemberRole.HEAD
    )
    supervisor = supervisors[0] if supervisors else "console-admin"
    hub.set_password(supervisor)
    page = _page(browser, width=1280, height=800)
    _login(page, hub, supervisor)
    assert page.url.endswith("/console/dashboard")
    charts = page.locator("figure.chart svg.chart-svg")
    assert charts.count() >= 8
    assert page.locator("figure.chart polyline").count() >= 5
    assert page.locator("form.review").count() >= 1
    assert page.locator("form.review fieldset.rubric").count() >= 5
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    # Score the first review and send the ticket back.
    form = page.locator("form.review").first
    for fieldset in form.locator("fieldset.rubric").all():
        fieldset.locator("input[value='3']").check()
    form.locator("textarea").fill("الرد يحتاج توضيح الخطوات")
    form.locator("input[name=send_back]").check()
    form.locator("button[type=submit]").click()
    page.locator("#flash:not([hidden])").wait_for()
    # English toggle, remembered in a cookie.
    page.click("a.lang")
    page.wait_for_url("**/console/dashboard")
    assert page.locator("html").get_attribute("dir") == "ltr"
    assert page.locator("h1").first.inner_text() == "Dashboard"
    page.goto(f"{hub.url}/console/inbox")
    assert page.locator("html").get_attribute("lang") == "en"
    page.context.close()


def test_the_administrator_sees_settings_and_toggles_duty(hub: Hub, browser: Any) -> None:
    page = _page(browser)
    _login(page, hub, "console-admin")
    assert page.url.endswith("/console/settings")
    for heading in ("#units-h", "#team-h", "#channels-h", "#faq-h", "#routing-h", "#holidays-h"):
        assert page.locator(heading).count() == 1
    button = page.locator(f'button[data-duty][aria-label*="{_name_of(hub, hub.facts["coordinator"])}"]').first
    assert button.get_attribute("aria-pressed") == "true"
    button.click()
    page.locator("#flash:not([hidden])").wait_for()
    button = page.locator(f'button[data-duty][aria-label*="{_name_of(hub, hub.facts["coordinator"])}"]').first
    assert button.get_attribute("aria-pressed") == "false"
    page.context.close()


def _name_of(hub: Hub, username: str) -> str:
    with hub.db.read_session() as s:
        return s.execute(select(User.name_ar).where(User.username == username)).scalar_one()
