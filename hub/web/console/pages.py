"""The console's pages under ``/console/``: server-rendered HTML for each role.

Pages read through the same scoped queries as the API (``ticket_core.queries``, ``ticket_core.scope``)
and every change goes through the ``/api/v1`` actions from the page's script, so authorisation and
audit live in one place. A page knows the person from the ``tawasul_session`` cookie; a ticket
outside their scope is a 404 page, exactly like one that does not exist. Responses carry a strict
Content-Security-Policy (scripts and styles from the hub only, no inline script), so even text that
slipped past escaping could not run.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import yaml
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.registry import CONNECTOR_CLASSES
from hub.web.api.common import PRINCIPAL, RUNTIME
from hub.web.api.console_api import people_in_scope, reply_limits, review_queue
from hub.web.console import charts
from hub.web.console.i18n import LANG_COOKIE, VOCAB, Translator, local_time, pick_language
from hub.web.console.text import inert, strip_bidi_controls
from ticket_core import canned, dashboard, health, quality, queries
from ticket_core.models import (
    Beneficiary,
    Conversation,
    ConversationState,
    Notification,
    OutboxMessage,
    OutboxStatus,
    Role,
    Ticket,
    TicketStatus,
    Unit,
    User,
    utcnow,
)
from ticket_core.people import Principal, resolve_session
from ticket_core.reports import Period, sector_of
from ticket_core.scope import Scope, scope_for

JINJA: web.AppKey[Any] = web.AppKey("console_jinja")
SESSION_COOKIE = "tawasul_session"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HOME = {Role.COORDINATOR: "/console/inbox", Role.SUPERVISOR: "/console/dashboard", Role.ADMIN: "/console/settings"}
OPEN_STATUSES = sorted(
    s.value for s in TicketStatus if s not in (TicketStatus.ANSWERED, TicketStatus.CLOSED, TicketStatus.CANCELLED)
)
PERIODS = (7, 30, 90)

Page = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]


# --- frame -------------------------------------------------------------------------------------------


def _security_headers(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response


def translator(request: web.Request) -> Translator:
    return Translator(pick_language(request.cookies.get(LANG_COOKIE)))


async def current_principal(request: web.Request) -> Principal | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    runtime = request.app[RUNTIME]

    def resolve() -> Principal | None:
        with runtime.db.read_session() as session:
            return resolve_session(session, token)

    return await asyncio.to_thread(resolve)


def _tz(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[RUNTIME].settings.timezone)


def render(
    request: web.Request,
    template: str,
    context: dict[str, Any],
    *,
    principal: Principal | None = None,
    status: int = 200,
) -> web.Response:
    t = translator(request)
    tz = _tz(request)
    base = {
        "t": t,
        "lang": t.lang,
        "dir": t.dir,
        "me": principal,
        "csrf": principal.csrf_token if principal else "",
        "path": request.path_qs,
        "path_only": request.path,
        "tz": tz,
        "when": lambda value: local_time(value, tz),
        "inert": lambda text: inert(text, t("bidi_control")),
        "plain": strip_bidi_controls,
        "static": lambda name: request.app.router["console_static"].url_for(filename=name),
        "role": principal.role.value if principal else None,
    }
    response = aiohttp_jinja2.render_template(template, request, base | context, status=status, app_key=JINJA)
    _security_headers(response)
    return response


def page(*roles: Role) -> Callable[[Page], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """A signed-in page (redirects to the login page otherwise), optionally for some roles only."""

    def decorate(fn: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(fn)
        async def handler(request: web.Request) -> web.StreamResponse:
            principal = await current_principal(request)
            if principal is None:
                raise web.HTTPSeeOther("/console/login?" + urlencode({"next": request.path_qs}))
            request[PRINCIPAL] = principal
            if roles and principal.role not in roles:
                return await _frame_page(request, principal, "forbidden", status=403)
            return await fn(request, principal)

        return handler

    return decorate


async def _frame(request: web.Request, principal: Principal) -> dict[str, Any]:
    """What every signed-in page shows in its header: unread notifications, my duty state."""
    runtime = request.app[RUNTIME]

    def work() -> dict[str, Any]:
        with runtime.db.read_session() as session:
            unread = session.execute(
                select(func.count())
                .select_from(Notification)
                .where(Notification.user_id == principal.user_id, Notification.read_at.is_(None))
            ).scalar_one()
            on_duty = session.execute(select(User.on_duty).where(User.id == principal.user_id)).scalar_one()
        return {"unread": int(unread), "on_duty": bool(on_duty)}

    return await asyncio.to_thread(work)


async def _frame_page(request: web.Request, principal: Principal, kind: str, *, status: int) -> web.Response:
    frame = await _frame(request, principal)
    return render(request, "message.html", {"kind": kind, **frame}, principal=principal, status=status)


async def _read(request: web.Request, fn: Callable[[Session], Any]) -> Any:
    runtime = request.app[RUNTIME]

    def work() -> Any:
        with runtime.db.read_session() as session:
            return fn(session)

    return await asyncio.to_thread(work)


def _scope(request: web.Request, principal: Principal) -> Scope:
    return scope_for(principal, request.app[RUNTIME].org())


# --- sign-in, language, home ----------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.StreamResponse:
    principal = await current_principal(request)
    if principal is not None:
        raise web.HTTPSeeOther(_safe_next(request.query.get("next")) or HOME[principal.role])
    return render(request, "login.html", {"next": _safe_next(request.query.get("next")) or ""})


def _safe_next(value: str | None) -> str | None:
    """Only paths inside the console (no scheme, no host, no ``//``) are followed after sign-in."""
    if value and value.startswith("/console/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


async def set_language(request: web.Request) -> web.StreamResponse:
    lang = pick_language(request.query.get("to"))
    response = web.HTTPSeeOther(_safe_next(request.query.get("next")) or "/console/")
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", samesite="Strict", httponly=True)
    raise response


@page()
async def home(request: web.Request, principal: Principal) -> web.StreamResponse:
    raise web.HTTPSeeOther(HOME[principal.role])


async def root_redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently("/console/")


# --- inbox ---------------------------------------------------------------------------------------------


def _inbox_filter(request: web.Request, principal: Principal) -> tuple[queries.TicketFilter, dict[str, str]]:
    q = request.query
    chosen = {k: q.get(k, "") for k in ("status", "category", "channel", "sla", "level", "assigned", "q", "after")}
    if "status" not in q:
        chosen["status"] = "open"
    status = chosen["status"]
    statuses: tuple[str, ...] = ()
    if status == "open":
        statuses = tuple(OPEN_STATUSES)
    elif status in {s.value for s in TicketStatus}:
        statuses = (status,)
    after = None
    if chosen["after"]:
        try:
            after = queries.decode_cursor(chosen["after"])
        except ValueError:
            chosen["after"] = ""
    flt = queries.TicketFilter(
        statuses=statuses,
        categories=(chosen["category"],) if chosen["category"] in VOCAB["category"] else (),
        channels=(chosen["channel"],) if chosen["channel"] else (),
        levels=(int(chosen["level"]),) if chosen["level"].isdigit() else (),
        sla=chosen["sla"] if chosen["sla"] in queries.SLA_STATES else None,
        assignee=principal.user_id if chosen["assigned"] == "me" else None,
        unassigned=chosen["assigned"] == "none",
        q=chosen["q"].strip() or None,
        limit=50,
        after=after,
    )
    return flt, chosen


@page()
async def inbox(request: web.Request, principal: Principal) -> web.StreamResponse:
    scope = await asyncio.to_thread(_scope, request, principal)
    flt, chosen = _inbox_filter(request, principal)
    now = utcnow()
    rows = await _read(request, lambda s: queries.list_tickets(s, scope.unit_ids, flt, now=now))
    base = {k: v for k, v in chosen.items() if v and k != "after"}
    next_url = f"/console/inbox?{urlencode(base | {'after': rows[-1]['cursor']})}" if len(rows) == flt.limit else None
    first_url = f"/console/inbox?{urlencode(base)}" if chosen["after"] else None
    context = {"rows": rows, "chosen": chosen, "next_url": next_url, "first_url": first_url}
    if request.query.get("partial") == "rows":
        return render(request, "_inbox_rows.html", context, principal=principal)
    registry = request.app[RUNTIME].registry
    context |= {
        "statuses": [s.value for s in TicketStatus],
        "categories": list(VOCAB["category"]),
        "channels": sorted(set(registry.names) | {"telegram", "portal", "whatsapp", "snapchat"}),
        "sla_states": list(queries.SLA_STATES),
        "levels": list(range(0, 6)),
        "first_page": not chosen["after"],
    }
    return render(request, "inbox.html", context | await _frame(request, principal), principal=principal)


# --- conversation -----------------------------------------------------------------------------------------


def _conversation_data(
    session: Session, number: str, scope: Scope, principal: Principal, tree: Any
) -> dict[str, Any] | None:
    ticket = session.execute(select(Ticket).where(Ticket.number == number)).scalar_one_or_none()
    if ticket is None or not scope.allows(ticket.unit_id):
        return None
    now = utcnow()
    conversation = session.get(Conversation, ticket.conversation_id)
    assert conversation is not None
    citizen = session.get(Beneficiary, ticket.beneficiary_id)
    assignee = session.get(User, ticket.assignee_id) if ticket.assignee_id else None
    unit = tree.by_id.get(ticket.unit_id)
    items = queries.timeline(session, ticket.beneficiary_id)
    actors = {
        int(i["actor"][5:])
        for i in items
        if i["type"] == "event" and str(i.get("actor", "")).startswith("user:") and i["actor"][5:].isdigit()
    }
    names = (
        {row.id: row for row in session.execute(select(User.id, User.name_ar, User.name_en).where(User.id.in_(actors)))}
        if actors
        else {}
    )
    conversations = list(
        session.execute(
            select(Conversation).where(Conversation.beneficiary_id == ticket.beneficiary_id).order_by(Conversation.id)
        ).scalars()
    )
    others = session.execute(
        select(Ticket.number, Ticket.status, Ticket.unit_id, Ticket.created_at, Ticket.channel)
        .where(Ticket.beneficiary_id == ticket.beneficiary_id, Ticket.id != ticket.id)
        .order_by(Ticket.created_at.desc())
        .limit(20)
    ).all()
    manual = session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.text,
            OutboxMessage.user_ref,
            OutboxMessage.created_at,
            OutboxMessage.channel,
        )
        .where(
            OutboxMessage.conversation_id.in_([c.id for c in conversations]),
            OutboxMessage.status == OutboxStatus.MANUAL.value,
        )
        .order_by(OutboxMessage.id)
    ).all()
    responses = canned.for_units(session, None if principal.role is Role.ADMIN else principal.unit_ids)
    return {
        "ticket": ticket,
        "sla": queries.sla_state(ticket.status, ticket.due_at, ticket.paused_at, now),
        "seconds_left": (ticket.due_at - now).total_seconds(),
        "conversation": conversation,
        "citizen": citizen,
        "assignee": assignee,
        "unit": unit,
        "items": items,
        "actor_names": names,
        "conversations": conversations,
        "others": [
            {
                "number": o.number,
                "status": o.status.value,
                "visible": scope.allows(o.unit_id),
                "at": o.created_at,
                "channel": o.channel,
            }
            for o in others
        ],
        "manual": manual,
        "canned": responses,
        "limits": reply_limits(ticket.channel, conversation.last_inbound_at, now),
        "mine": ticket.assignee_id == principal.user_id,
        "taken_by_other": conversation.state is ConversationState.HUMAN
        and ticket.assignee_id not in (None, principal.user_id),
        "is_human": conversation.state is ConversationState.HUMAN,
        "now": now,
    }


@page()
async def conversation_page(request: web.Request, principal: Principal) -> web.StreamResponse:
    number = request.match_info["number"]
    runtime = request.app[RUNTIME]
    tree = await asyncio.to_thread(runtime.org)
    scope = scope_for(principal, tree)
    data = await _read(request, lambda s: _conversation_data(s, number, scope, principal, tree))
    if data is None:
        return await _frame_page(request, principal, "not_found", status=404)
    if request.query.get("partial") == "timeline":
        return render(request, "_timeline.html", data, principal=principal)
    t = translator(request)
    language = data["ticket"].language
    name = data["citizen"].display_name if data["citizen"] else ""
    for item in data["canned"]:
        text = item["text_en"] if language == "en" else item["text_ar"]
        item["text"] = text.replace("{number}", data["ticket"].number).replace(
            "{name}", strip_bidi_controls(name or "")
        )
        item["title"] = t.name(item, prefix="title")
    units = sorted((u for u in tree.by_id.values() if u.id != data["ticket"].unit_id), key=lambda u: (t.name(u), u.key))
    context = data | {"units": units, "window": _window_text(t, data["limits"], _tz(request), data["now"])}
    return render(request, "conversation.html", context | await _frame(request, principal), principal=principal)


def _window_text(t: Translator, limits: Any, tz: ZoneInfo, now: Any) -> list[str]:
    """The reply window, and what happens once it closes, in words."""
    lines: list[str] = []
    hours = int(limits.window_hours or 0)
    if limits.manual_delivery:
        lines.append(t("manual_channel"))
    if limits.window == "none":
        lines.append(t("window_none"))
    elif limits.window == "unknown":
        lines.append(t("window_unknown"))
    elif limits.window == "open":
        closes = datetime.fromisoformat(limits.window_closes_at)
        lines.append(
            t("window_open", h=hours, until=local_time(closes, tz), left=t.duration((closes - now).total_seconds()))
        )
        if limits.after_close == "human_agent":
            lines.append(t("after_close_human", until=local_time(limits.human_agent_until, tz)))
        else:
            lines.append(t("after_close_refused"))
    elif limits.window == "human_agent":
        lines.append(t("window_human", h=hours, until=local_time(limits.human_agent_until, tz)))
    else:
        lines.append(t("window_closed"))
    return lines


# --- manual sends ------------------------------------------------------------------------------------------


@page()
async def manual_page(request: web.Request, principal: Principal) -> web.StreamResponse:
    scope = await asyncio.to_thread(_scope, request, principal)

    def work(session: Session) -> list[Any]:
        o = OutboxMessage
        rows = session.execute(
            select(o.id, o.channel, o.user_ref, o.text, o.created_at, Ticket.number, Ticket.unit_id)
            .outerjoin(Ticket, Ticket.id == o.ticket_id)
            .where(o.status == OutboxStatus.MANUAL.value)
            .order_by(o.id)
            .limit(200)
        ).all()
        return [r for r in rows if r.unit_id is None or scope.allows(r.unit_id)]

    rows = await _read(request, work)
    return render(request, "manual.html", {"rows": rows} | await _frame(request, principal), principal=principal)


# --- notifications -------------------------------------------------------------------------------------------


@page()
async def notifications_page(request: web.Request, principal: Principal) -> web.StreamResponse:
    def work(session: Session) -> list[Any]:
        return list(
            session.execute(
                select(Notification.id, Notification.kind, Notification.created_at, Notification.payload, Ticket.number)
                .outerjoin(Ticket, Ticket.id == Notification.ticket_id)
                .where(Notification.user_id == principal.user_id, Notification.read_at.is_(None))
                .order_by(Notification.id.desc())
                .limit(100)
            ).all()
        )

    rows = await _read(request, work)
    return render(request, "notifications.html", {"rows": rows} | await _frame(request, principal), principal=principal)


# --- dashboard ---------------------------------------------------------------------------------------------


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:,.1f}" if isinstance(v, float) else f"{v:,}"


@page(Role.SUPERVISOR, Role.ADMIN)
async def dashboard_page(request: web.Request, principal: Principal) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    tree = await asyncio.to_thread(runtime.org)
    scope = scope_for(principal, tree)
    tz = _tz(request)
    days = int(request.query.get("days", "30")) if request.query.get("days", "30").isdigit() else 30
    days = days if days in PERIODS else 30
    now = utcnow()
    today = now.astimezone(tz).date()
    start_day = today - timedelta(days=days - 1)
    period = Period(
        datetime(start_day.year, start_day.month, start_day.day, tzinfo=tz),
        datetime(today.year, today.month, today.day, tzinfo=tz) + timedelta(days=1),
    )

    def work(session: Session) -> tuple[dashboard.Dashboard, list[dict[str, Any]], list[dict[str, Any]]]:
        board = dashboard.dashboard(session, period, tree, now=now, tz=tz, unit_ids=scope.unit_ids)
        # Administrators manage people on the settings page; the dashboard's team is a supervisor's own.
        team = people_in_scope(session, scope) if principal.role is Role.SUPERVISOR else []
        return board, review_queue(session, scope), team

    board, reviews, team = await _read(request, work)
    t = translator(request)
    rtl = t.dir == "rtl"
    line = functools.partial(
        charts.line_chart, rtl=rtl, day_label=t("day"), table_label=t("data_table"), empty_label=t("no_data")
    )

    def unit_label(key: str) -> str:
        node = tree.by_key.get(key)
        return t.name(node) if node else key

    by_sector = {unit_label(k): v for k, v in board.by_sector.items()}
    chart_list = [
        line(t("chart_by_category"), board.days, {t.v("category", k): v for k, v in board.by_category.items()}),
        line(t("chart_by_channel"), board.days, {t.v("channel", k): v for k, v in board.by_channel.items()}),
        line(t("chart_by_sector"), board.days, by_sector),
        line(
            t("chart_sla"),
            board.days,
            {t("series_sla"): board.sla_compliance},
            y_max=100,
            scale=100,
            unit="%",
        ),
        line(
            t("chart_times"),
            board.days,
            {t("series_first_response"): board.first_response_h, t("series_resolution"): board.resolution_h},
        ),
        line(
            t("chart_objection"),
            board.days,
            {t("series_objection"): board.objection_rate},
            scale=100,
            unit="%",
        ),
        line(t("chart_csat"), board.days, {t("series_csat"): board.csat_average}, y_max=5),
        charts.bar_chart(
            t("chart_levels"),
            [(f"{t('level_short')} {level}", float(n)) for level, n in board.escalations_by_level.items()],
            rtl=rtl,
            label_head=t("level"),
            value_head=t("kpi_tickets"),
            table_label=t("data_table"),
            empty_label=t("no_data"),
        ),
        charts.bar_chart(
            t("chart_topics"),
            [(t.v("category", name) if name in VOCAB["category"] else name, float(n)) for name, n in board.top_topics],
            rtl=rtl,
            label_head=t("topic"),
            value_head=t("kpi_tickets"),
            table_label=t("data_table"),
            empty_label=t("no_data"),
        ),
    ]
    totals = board.totals
    kpis = [
        ("kpi_tickets", _num(totals["tickets"])),
        ("kpi_sla", _pct(totals["sla_compliance"])),
        ("kpi_first_response", _num(totals["first_response_median_working_h"])),
        ("kpi_resolution", _num(totals["resolution_median_working_h"])),
        ("kpi_objection", _pct(totals["objection_rate"])),
        ("kpi_csat", _num(totals["csat_average"])),
        ("kpi_open", _num(totals["open_now"])),
        ("kpi_overdue", _num(totals["overdue_now"])),
    ]
    unit_names = {u.id: t.name(u) for u in tree.by_id.values()}
    context = {
        "charts": chart_list,
        "kpis": kpis,
        "days": days,
        "periods": PERIODS,
        "reviews": reviews,
        "rubric": quality.RUBRIC,
        "team": team,
        "unit_names": unit_names,
        "sector_of": lambda unit_id: unit_label(sector_of(tree, unit_id)),
        "csv_dashboard": f"/api/v1/dashboard?{urlencode({'from': start_day.isoformat(), 'to': today.isoformat(), 'format': 'csv'})}",
        "csv_report": f"/api/v1/reports?{urlencode({'from': start_day.isoformat(), 'to': today.isoformat(), 'format': 'csv'})}",
    }
    return render(request, "dashboard.html", context | await _frame(request, principal), principal=principal)


# --- settings (administrators) ------------------------------------------------------------------------------


@page(Role.ADMIN)
async def settings_page(request: web.Request, principal: Principal) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    tree = await asyncio.to_thread(runtime.org)
    data_dir = runtime.settings.data_dir

    def work(session: Session) -> dict[str, Any]:
        heads = {user_id: name for user_id, name in session.execute(select(User.id, User.username))}
        return {
            "team": people_in_scope(session, Scope(None)),
            "health": health.all_health(session),
            "heads": heads,
            "unit_rows": session.execute(select(Unit.id, Unit.coordinator_cap, Unit.is_triage)).all(),
        }

    data = await _read(request, work)
    units = []

    def walk(parent: int | None, depth: int) -> None:
        for unit_id in sorted(tree.children.get(parent, []), key=lambda i: tree.by_id[i].key):
            node = tree.by_id[unit_id]
            units.append({"node": node, "depth": min(depth, 6), "head": data["heads"].get(node.head_user_id)})
            walk(unit_id, depth + 1)

    walk(None, 0)
    registry = runtime.registry
    channels = [
        {
            "name": cls.name,
            "enabled": cls.name in registry,
            "caps": cls.capabilities,
            "health": data["health"].get(cls.name),
        }
        for cls in CONNECTOR_CLASSES
    ]
    faq = await asyncio.to_thread(_faq_entries, data_dir / "faq.yml")
    routing = await asyncio.to_thread(_routing_rules, data_dir / "routing.yml")
    calendar = runtime.calendar
    year = utcnow().astimezone(_tz(request)).year
    holidays = [h for y in (year, year + 1) for h in calendar.holidays_in(y)]
    context = {
        "units": units,
        "team": data["team"],
        "unit_names": {u.id: Translator(translator(request).lang).name(u) for u in tree.by_id.values()},
        "channels": channels,
        "faq": faq,
        "routing": routing,
        "holidays": holidays,
        "today": date.today(),
    }
    return render(request, "settings.html", context | await _frame(request, principal), principal=principal)


@functools.lru_cache(maxsize=4)
def _faq_entries_cached(path: str, mtime: float) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    out = []
    for entry in data.get("entries") or []:
        out.append(
            {
                "id": entry.get("id"),
                "topic": entry.get("topic"),
                "owner": entry.get("owner_unit"),
                "review_by": entry.get("review_by"),
                "question_ar": (entry.get("questions_ar") or [""])[0],
                "question_en": (entry.get("questions_en") or [""])[0],
            }
        )
    return out


def _faq_entries(path: Any) -> list[dict[str, Any]]:
    try:
        return _faq_entries_cached(str(path), path.stat().st_mtime)
    except FileNotFoundError:
        return []


def _routing_rules(path: Any) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return {"rules": [], "default": None}
    rules = [
        {
            "name": r.get("name"),
            "when": yaml.safe_dump(r.get("when") or {}, allow_unicode=True, default_flow_style=True).strip(),
            "to": r.get("to"),
        }
        for r in data.get("rules") or []
    ]
    return {"rules": rules, "default": data.get("default")}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/console", root_redirect)
    app.router.add_get("/console/", home)
    app.router.add_get("/console/login", login_page)
    app.router.add_get("/console/lang", set_language)
    app.router.add_get("/console/inbox", inbox)
    app.router.add_get("/console/tickets/{number}", conversation_page)
    app.router.add_get("/console/manual", manual_page)
    app.router.add_get("/console/notifications", notifications_page)
    app.router.add_get("/console/dashboard", dashboard_page)
    app.router.add_get("/console/settings", settings_page)
