"""Ticket-core benchmark on PostgreSQL with 1,000,000 tickets: SLA sweep, reports, inbox, timeline.

What it does, in order (every figure is printed next to a baseline measured in the same run, because
these machines are shared and noisy):

1. Creates a fresh database, migrates it (``ticket_core.migrate.upgrade``), seeds the org tree from
   ``data/org.yml`` and generates the load with set-based SQL (``INSERT ... SELECT FROM
   generate_series``): ~200k beneficiaries with channel identities and conversations, 1M tickets over
   the last 12 months spread over the seeded units by weight, their messages, audit rows for the
   lifecycle, CSAT ratings for ~20% of answered tickets. ``VACUUM ANALYZE`` afterwards.
2. Backdates ~1% of the sweep-eligible open tickets (a beat outage) and measures, against the
   baseline ``SELECT number FROM tickets WHERE id = :random`` (one transaction per call):
   - ``queries.list_tickets`` per persona and filter (open, sla=overdue, category, search by number,
     name, phone, text), p50/p95 over ``--calls`` calls each after ``--warmup`` unrecorded calls with
     other search terms (issue 4: p95 <= 50 ms);
   - the same through the HTTP API on loopback (``hub.web.app.create_app`` in this process, server
     time from a ``Server-Timing`` middleware; issue 7: inbox p95 <= 150 ms, conversation timeline
     <= 100 ms, dashboard = ``/api/v1/reports`` <= 1 s), baselines ``/healthz`` and ``/api/v1/me``;
   - ``escalation.sweep`` (issue 4: <= 10 s) and a second sweep right after (must find 0);
   - ``reports.report`` for 30 days and 12 months, admin and a region supervisor (issue 4: <= 2 s).
3. Prints ``EXPLAIN (ANALYZE, BUFFERS)`` of the slowest statement of each kind.

Usage::

    python bench/tickets.py                       # generate, measure, drop the database
    python bench/tickets.py --keep                # ... and keep it (its name is printed)
    python bench/tickets.py --reuse NAME --keep   # measure again on a kept database (migrated first)

The server comes from ``--admin-url`` (default ``TAWASUL_TEST_DATABASE_URL`` or this machine's
``postgresql://postgres@127.0.0.1:5432/test``); the benchmark database is created next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from sqlalchemy import create_engine, event, select, text  # noqa: E402
from sqlalchemy.engine import Connection, make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from ticket_core import escalation, people, queries, reports  # noqa: E402
from ticket_core.calendar import BusinessCalendar, load_calendar  # noqa: E402
from ticket_core.db import Database  # noqa: E402
from ticket_core.migrate import upgrade  # noqa: E402
from ticket_core.models import OPEN_TICKET_STATUSES, Role, TicketStatus, UnitMember, User, utcnow  # noqa: E402
from ticket_core.org import OrgTree, seed_org  # noqa: E402
from ticket_core.scope import scope_for  # noqa: E402
from ticket_core.sla import SlaPolicy  # noqa: E402

DATA = REPO / "data"
PASSWORD = "bench-password-not-secret"
TZ = "Asia/Riyadh"
OPEN = tuple(sorted(s.value for s in OPEN_TICKET_STATUSES))
CLOCK_RUNNING = tuple(sorted(s.value for s in OPEN_TICKET_STATUSES if s is not TicketStatus.OBJECTED))

# --- the load ----------------------------------------------------------------------------------------

# Tickets per unit, relative. Deputy ministries and the minister's office receive tickets only by
# escalation; the care centre (triage and its own services) and the education departments carry most.
UNIT_WEIGHTS = {
    "central-care": 20.0,
    "student-protection": 1.2,
    "gd-digital-platforms": 3.0,
    "gd-salaries": 2.0,
    "gd-human-resources": 1.5,
    "gd-teacher-affairs": 1.5,
    "gd-scholarships": 1.0,
    "gd-equivalency": 0.8,
    "gd-examinations": 0.8,
    "gd-student-affairs": 0.6,
    "gd-private-education": 0.5,
    "edu-riyadh": 8.0,
    "edu-makkah": 5.0,
    "edu-eastern": 5.0,
    "edu-madinah": 2.5,
    "edu-asir": 2.5,
    "edu-qassim": 2.0,
    "edu-jazan": 1.8,
    "edu-tabuk": 1.2,
    "edu-hail": 1.0,
    "edu-najran": 0.8,
    "edu-al-jouf": 0.7,
    "edu-al-baha": 0.6,
    "edu-northern-borders": 0.6,
    "edu-jeddah": 4.0,
    "edu-al-ahsa": 2.0,
    "edu-taif": 1.3,
    "university-ksu": 1.4,
    "university-kau": 1.3,
    "university-imamu": 1.1,
    "university-pnu": 1.0,
    "university-kfu": 0.9,
    "university-uqu": 0.9,
}
KIND_WEIGHTS = {
    "education_governorate": 0.6,
    "education_region": 1.0,
    "university": 0.5,
    "directorate": 0.25,
    "protection_unit": 1.0,
    "care_centre": 5.0,
    "deputy_ministry": 0.0,
    "minister": 0.0,
}
SLOTS = 10_000  # unit lookup table resolution (a unit with weight share s gets s * SLOTS slots)

CHANNELS = [  # primary channel of a beneficiary, with its share
    ("whatsapp", 0.34),
    ("portal", 0.22),
    ("telegram", 0.12),
    ("twitter", 0.10),
    ("instagram", 0.08),
    ("facebook", 0.07),
    ("snapchat", 0.04),
    ("skype", 0.03),
]

FIRST = [
    "محمد",
    "عبدالله",
    "فهد",
    "خالد",
    "سعود",
    "عبدالعزيز",
    "فيصل",
    "سلطان",
    "نايف",
    "تركي",
    "ماجد",
    "بندر",
    "ناصر",
    "سلمان",
    "عبدالرحمن",
    "يوسف",
    "إبراهيم",
    "أحمد",
    "عمر",
    "علي",
    "حمد",
    "مشعل",
    "راكان",
    "بدر",
    "نورة",
    "سارة",
    "ريم",
    "هيفاء",
    "منيرة",
    "لطيفة",
    "عبير",
    "أمل",
    "جواهر",
    "هند",
    "ندى",
    "مها",
    "أسماء",
    "العنود",
    "شهد",
    "لمى",
]
FATHER = [
    "محمد",
    "عبدالله",
    "فهد",
    "خالد",
    "سعود",
    "عبدالعزيز",
    "فيصل",
    "سلطان",
    "ناصر",
    "سلمان",
    "عبدالرحمن",
    "إبراهيم",
    "أحمد",
    "عمر",
    "علي",
    "حمد",
    "صالح",
    "سعد",
]
FAMILY = [
    "العتيبي",
    "القحطاني",
    "الشهري",
    "الغامدي",
    "الزهراني",
    "الدوسري",
    "المطيري",
    "الحربي",
    "العنزي",
    "الشمري",
    "السبيعي",
    "المالكي",
    "الجهني",
    "البلوي",
    "العمري",
    "التميمي",
    "السهلي",
    "الرشيدي",
    "الشهراني",
    "الأحمدي",
    "اليامي",
    "الخالدي",
    "الفيفي",
    "العسيري",
    "السلمي",
    "الثقفي",
    "الهاجري",
    "المري",
    "القرني",
    "البقمي",
    "الزهراني",
    "العبدلي",
]
FILLERS_AR = [
    "منذ أسبوعين ولم يتم الرد",
    "أرجو المساعدة في أقرب وقت",
    "بخصوص ابني في الصف الرابع",
    "بخصوص ابنتي في المرحلة المتوسطة",
    "ما هو الإجراء المطلوب؟",
    "تكرر الموضوع أكثر من مرة",
    "وقدمت طلبًا عن طريق المنصة",
    "للفصل الدراسي الثاني",
    "ولم أجد حلاً عند المدرسة",
    "أحتاج إفادة رسمية",
    "راجعت الإدارة ولم يتم الحل",
    "مع الشكر والتقدير",
    "وهذا يؤثر على مستقبل الطالب",
    "هل يوجد رابط للتقديم؟",
    "والمدة طالت كثيرًا",
    "أرفقت صورة من الخطاب",
]
FILLERS_EN = [
    "please help",
    "for two weeks now",
    "for my son in grade 4",
    "what should I do?",
    "no answer yet",
    "I applied on the platform",
    "thank you",
    "it is urgent",
]
GENERIC_AR = [
    "استفسار عام",
    "شكوى على تأخر الرد",
    "اقتراح لتحسين الخدمة",
    "طلب تواصل مع المختص",
    "لم يتم حل مشكلتي",
    "متابعة طلب سابق",
    "استشارة تربوية",
    "ملاحظة على تعامل الموظف",
]
GENERIC_EN = ["general question", "complaint about a late answer", "suggestion", "please call me back"]
REPLY_AR = "نشكر تواصلكم، تمت معالجة طلبكم رقم {n} ويمكنكم الاطلاع على التفاصيل في المنصة."
REPLY_EN = "Thank you for contacting us; your request {n} has been handled."
CSAT_COMMENTS = ["شكرًا على سرعة الرد", "الرد لم يحل المشكلة", "خدمة ممتازة", "تأخر الرد كثيرًا", "موظف متعاون"]


@dataclass
class UnitPlan:
    id: int
    key: str
    kind: str
    weight: float
    depth: int
    chain: list[int]  # the unit, its parent, ... the root
    head: int | None
    coordinators: list[int]
    services: list[str]


def unit_plans(session: Session, tree: OrgTree) -> list[UnitPlan]:
    """Every unit with its share of new tickets, its services, coordinators and escalation chain."""
    coordinators: dict[int, list[int]] = {}
    for unit_id, user_id, role in session.execute(
        select(UnitMember.unit_id, UnitMember.user_id, UnitMember.role).order_by(UnitMember.user_id)
    ):
        if role.value == "coordinator":
            coordinators.setdefault(unit_id, []).append(user_id)
    catalogue = yaml.safe_load((DATA / "services.yml").read_text(encoding="utf-8"))["services"]
    by_kind = {"region": ("education_region", "education_governorate"), "university": ("university",)}
    plans = []
    for unit in sorted(tree.by_id.values(), key=lambda u: u.id):
        chain = [unit.id, *(a.id for a in tree.ancestors(unit.id))]
        services = [
            s["key"]
            for s in catalogue
            if not s.get("retired")
            and (
                s.get("unit") == unit.key
                or s.get("fallback_unit") == unit.key
                or (s.get("route_by") in by_kind and unit.kind in by_kind[s["route_by"]])
            )
        ]
        weight = UNIT_WEIGHTS.get(unit.key, KIND_WEIGHTS.get(unit.kind, 0.25))
        plans.append(
            UnitPlan(
                unit.id,
                unit.key,
                unit.kind,
                weight,
                len(chain) - 1,
                chain,
                unit.head_user_id,
                coordinators.get(unit.id, []),
                services,
            )
        )
    return plans


@dataclass
class Step:
    what: str
    rows: int
    seconds: float


@dataclass
class Generated:
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0
    now: datetime = field(default_factory=utcnow)
    facts: dict[str, Any] = field(default_factory=dict)


def _step(conn: Connection, out: Generated, what: str, sql: str, params: dict[str, Any] | None = None) -> int:
    t0 = time.perf_counter()
    result = conn.execute(text(sql), params or {})
    rows = int(result.rowcount or 0)  # type: ignore[attr-defined]
    dt = time.perf_counter() - t0
    out.steps.append(Step(what, rows, dt))
    print(f"  {what:<58} {rows:>10,} rows {dt:7.1f} s", flush=True)
    return rows


def generate(
    db: Database, tree: OrgTree, *, tickets: int, beneficiaries: int, seed: float, with_audit: bool
) -> Generated:
    """The whole load, set-based, in one connection (temporary tables hold the lookup data)."""
    out = Generated()
    now = out.now
    start = now - timedelta(days=365)
    calendar = load_calendar(DATA / "calendar.yml")
    t_all = time.perf_counter()
    with db.read_session() as session:
        plans = unit_plans(session, tree)
    total_weight = sum(p.weight for p in plans)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SET synchronous_commit = off")
        conn.exec_driver_sql("SET jit = off")
        conn.exec_driver_sql("SET work_mem = '512MB'")
        conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        # Consistent by construction; the foreign keys are checked with anti-joins after the load.
        conn.exec_driver_sql("SET session_replication_role = replica")
        conn.execute(text("SELECT setseed(:s)"), {"s": seed})
        _lookup_tables(conn, plans, total_weight, calendar, start, now)
        nb = beneficiaries
        _step(
            conn,
            out,
            "beneficiaries (Arabic names, unique phone, 25% e-mail)",
            """
            INSERT INTO beneficiaries (id, display_name, preferred_language, phone, email, created_at, updated_at)
            SELECT b,
                   (CAST(:first AS text[]))[1 + floor(random() * cardinality(CAST(:first AS text[])))::int] || ' ' ||
                   (CAST(:father AS text[]))[1 + floor(random() * cardinality(CAST(:father AS text[])))::int] || ' ' ||
                   (CAST(:family AS text[]))[1 + floor(random() * cardinality(CAST(:family AS text[])))::int],
                   CASE WHEN random() < 0.07 THEN 'en' ELSE 'ar' END,
                   '+9665' || lpad(((b::bigint * 7919 + 12345) % 100000000)::text, 8, '0'),
                   CASE WHEN random() < 0.25 THEN 'citizen' || b || '@example.sa' END,
                   c, c
            FROM generate_series(1, :nb) AS b,
                 LATERAL (SELECT CAST(:start AS timestamptz) - random() * interval '400 days' AS c) AS t
            """,
            {"nb": nb, "first": FIRST, "father": FATHER, "family": FAMILY, "start": start},
        )
        channel_case = "CASE " + " ".join(
            f"WHEN h < {sum(w for _, w in CHANNELS[: i + 1]):.4f} THEN '{name}'" for i, (name, _) in enumerate(CHANNELS)
        )
        channel_case += " ELSE 'portal' END"
        _step(
            conn,
            out,
            "channel identities (one each, a second channel for 25%)",
            f"""
            INSERT INTO channel_identities
                (id, beneficiary_id, channel, account_ref, user_ref, display_name, created_at, last_seen_at)
            SELECT i.id, b.id, i.channel, 'acct-' || i.channel,
                   CASE WHEN i.channel = 'whatsapp' THEN substr(b.phone, 2) ELSE i.channel || '-user-' || b.id END,
                   b.display_name, b.created_at, b.created_at
            FROM beneficiaries b
            CROSS JOIN LATERAL (SELECT random() AS h WHERE b.id IS NOT NULL) AS r
            CROSS JOIN LATERAL (SELECT {channel_case} AS primary_channel) AS p
            CROSS JOIN LATERAL (
                VALUES (b.id, p.primary_channel),
                       (CASE WHEN b.id % 4 = 0 THEN :nb + b.id / 4 END,
                        CASE WHEN p.primary_channel = 'portal' THEN 'whatsapp' ELSE 'portal' END)
            ) AS i(id, channel)
            WHERE i.id IS NOT NULL
            """,
            {"nb": nb},
        )
        _step(
            conn,
            out,
            "conversations (one per identity)",
            """
            INSERT INTO conversations (id, beneficiary_id, identity_id, channel, account_ref, thread_ref, state,
                                       language, last_inbound_at, created_at, updated_at)
            SELECT i.id, i.beneficiary_id, i.id, i.channel, i.account_ref, i.user_ref, 'bot', b.preferred_language,
                   NULL, i.created_at, i.created_at
            FROM channel_identities i JOIN beneficiaries b ON b.id = i.beneficiary_id
            """,
        )
        _step(
            conn,
            out,
            "random draws for the tickets (temporary table)",
            """
            CREATE TEMPORARY TABLE bench_draw AS
            SELECT g AS id,
                   CAST(:start AS timestamptz) + ((g - 1) + random()) * :step * interval '1 second' AS created_at,
                   random() AS r_unit, random() AS r_b, random() AS r_conv, random() AS r_cat, random() AS r_svc,
                   random() AS r_kw, random() AS r_fill, random() AS r_d1, random() AS r_d2, random() AS r_mix,
                   random() AS r_cancel, random() AS r_obj, random() AS r_stat, random() AS r_coord,
                   random() AS r_misc, random() AS r_school
            FROM generate_series(1, :n) AS g
            """,
            {"start": start, "step": 365 * 86400 / tickets, "n": tickets},
        )
        units = {"protection": tree.by_key["student-protection"].id, "triage": tree.triage().id}
        _step(conn, out, "tickets", _TICKETS_SQL, {"now": now, "nb": nb, "slots": SLOTS} | units | _TEXT_PARAMS)
        conn.exec_driver_sql("DROP TABLE bench_draw")
        _step(
            conn,
            out,
            "messages (citizen, bot acknowledgement, coordinator answer)",
            """
            INSERT INTO messages (conversation_id, ticket_id, direction, author, text, language, intent, confidence,
                                  entities, attachments, user_id, created_at)
            SELECT t.conversation_id, t.id, v.direction, v.author, v.body, t.language, v.intent, v.confidence,
                   '[]'::jsonb, '[]'::jsonb, v.user_id, v.at
            FROM tickets t
            CROSS JOIN LATERAL (VALUES
                ('in', 'citizen', t.subject, t.category, t.nlu_confidence, NULL::integer, t.created_at),
                ('out', 'bot',
                 CASE WHEN t.language = 'en'
                      THEN 'We received your request ' || t.number || '; we answer within five working days.'
                      ELSE 'تم استلام طلبك رقم ' || t.number || '، وسيتم الرد عليك خلال خمسة أيام عمل.' END,
                 NULL, NULL, NULL, t.created_at + interval '2 seconds'),
                ('out', 'coordinator',
                 replace(CASE WHEN t.language = 'en' THEN :reply_en ELSE :reply_ar END, '{n}', t.number),
                 NULL, NULL, t.assignee_id, t.first_response_at)
            ) AS v(direction, author, body, intent, confidence, user_id, at)
            WHERE v.at IS NOT NULL
            ORDER BY v.at
            """,
            {"reply_ar": REPLY_AR, "reply_en": REPLY_EN},
        )
        if with_audit:
            _step(
                conn,
                out,
                "audit events (created, answered, closed/cancelled)",
                """
                INSERT INTO audit_events (at, actor, action, ticket_id, conversation_id, reason, detail)
                SELECT v.at, v.actor, v.action, t.id, t.conversation_id, NULL, v.detail
                FROM tickets t
                CROSS JOIN LATERAL (VALUES
                    (t.created_at, 'system', 'ticket.created',
                     jsonb_build_object('category', t.category, 'due_at', t.first_due_at)),
                    (t.answered_at, 'user:' || coalesce(t.assignee_id::text, '0'), 'ticket.answered',
                     jsonb_build_object('from', 'in_progress')),
                    (t.closed_at, 'system', CASE WHEN t.status = 'cancelled' THEN 'ticket.cancelled'
                                                 ELSE 'ticket.closed' END,
                     jsonb_build_object('from', 'answered'))
                ) AS v(at, actor, action, detail)
                WHERE v.at IS NOT NULL
                ORDER BY v.at
                """,
            )
        _step(
            conn,
            out,
            "CSAT ratings (~20% of answered tickets)",
            """
            INSERT INTO csat_ratings (ticket_id, score, comment, channel, created_at)
            SELECT t.id,
                   CASE WHEN r.s < 0.45 THEN 5 WHEN r.s < 0.70 THEN 4 WHEN r.s < 0.82 THEN 3
                        WHEN r.s < 0.90 THEN 2 ELSE 1 END,
                   CASE WHEN r.c < 0.25 THEN (CAST(:comments AS text[]))[1 + floor(r.c * 4 * 5)::int] END,
                   t.channel,
                   least(CAST(:now AS timestamptz), t.answered_at + r.d * interval '36 hours')
            FROM tickets t
            CROSS JOIN LATERAL (
                SELECT random() AS p, random() AS s, random() AS c, random() AS d WHERE t.id IS NOT NULL
            ) AS r
            WHERE t.answered_at IS NOT NULL AND r.p < 0.20
            ORDER BY t.id
            """,
            {"comments": CSAT_COMMENTS, "now": now},
        )
        for table_name in ("beneficiaries", "channel_identities", "conversations", "tickets", "messages"):
            conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), (SELECT max(id) FROM {table_name}))"
            )
        conn.exec_driver_sql("SET session_replication_role = origin")
        conn.commit()
        t0 = time.perf_counter()
        broken = conn.execute(text(_FK_CHECK)).scalar_one()
        print(f"  {'foreign keys checked (anti-joins)':<58} {broken:>10,} bad  {time.perf_counter() - t0:7.1f} s")
        if broken:
            raise SystemExit("generated data breaks a foreign key")
    t0 = time.perf_counter()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        conn.exec_driver_sql("VACUUM ANALYZE")
    out.steps.append(Step("VACUUM ANALYZE", 0, time.perf_counter() - t0))
    print(f"  {'VACUUM ANALYZE':<58} {'':>15} {time.perf_counter() - t0:7.1f} s")
    out.seconds = time.perf_counter() - t_all
    out.facts = describe_load(db, plans, total_weight)
    return out


def _lookup_tables(
    conn: Connection,
    plans: list[UnitPlan],
    total_weight: float,
    calendar: BusinessCalendar,
    start: datetime,
    now: datetime,
) -> None:
    """Small temporary tables the ticket INSERT joins: unit slots, unit facts, ladder, due days, services."""
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE bench_unit (id int PRIMARY KEY, head int, coords int[], services text[], max_level int)"
    )
    conn.execute(
        text("INSERT INTO bench_unit VALUES (:id, :head, :coords, :services, :max_level)"),
        [
            {"id": p.id, "head": p.head, "coords": p.coordinators, "services": p.services, "max_level": p.depth + 1}
            for p in plans
        ],
    )
    slots: list[dict[str, int]] = []
    cumulative = 0.0
    for plan in plans:
        if plan.weight <= 0:
            continue
        cumulative += plan.weight
        upto = round(cumulative / total_weight * SLOTS)
        slots.extend({"i": i, "unit": plan.id} for i in range(len(slots), upto))
    conn.exec_driver_sql("CREATE TEMPORARY TABLE bench_slot (i int PRIMARY KEY, unit_id int)")
    conn.execute(text("INSERT INTO bench_slot VALUES (:i, :unit)"), slots)
    # The ladder: where a ticket of unit u sits at level L (level 0 and 1 in u, then one parent per level).
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE bench_up (unit_id int, level int, target int, PRIMARY KEY (unit_id, level))"
    )
    conn.execute(
        text("INSERT INTO bench_up VALUES (:u, :level, :target)"),
        [
            {"u": p.id, "level": level, "target": p.chain[min(max(level - 1, 0), len(p.chain) - 1)]}
            for p in plans
            for level in range(0, 13)
        ],
    )
    # Due days by the real calendar: 5 working days after each Riyadh date, at the same time of day.
    conn.exec_driver_sql("CREATE TEMPORARY TABLE bench_day (day date PRIMARY KEY, due5 int)")
    tz = calendar.timezone
    first = start.astimezone(tz).date() - timedelta(days=2)
    rows = []
    day = first
    while day <= now.astimezone(tz).date() + timedelta(days=60):
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=tz)
        rows.append({"day": day, "due5": (calendar.add_working_days(noon, 5).date() - day).days})
        day += timedelta(days=1)
    conn.execute(text("INSERT INTO bench_day VALUES (:day, :due5)"), rows)
    catalogue = yaml.safe_load((DATA / "services.yml").read_text(encoding="utf-8"))["services"]
    conn.exec_driver_sql("CREATE TEMPORARY TABLE bench_svc (key text PRIMARY KEY, kw_ar text[], kw_en text[])")
    conn.execute(
        text("INSERT INTO bench_svc VALUES (:key, :ar, :en)"),
        [{"key": s["key"], "ar": s["keywords_ar"], "en": s["keywords_en"]} for s in catalogue],
    )
    conn.exec_driver_sql(
        "ANALYZE bench_unit; ANALYZE bench_slot; ANALYZE bench_up; ANALYZE bench_day; ANALYZE bench_svc"
    )


_TEXT_PARAMS = {
    "fill_ar": FILLERS_AR,
    "fill_en": FILLERS_EN,
    "generic_ar": GENERIC_AR,
    "generic_en": GENERIC_EN,
}

# One row per draw. The response time is a log-normal (median 48 calendar hours, sigma 0.9) for 95% of
# tickets and 10-30 days for the 5% complex ones; a ticket whose answer time is still in the future is
# open, and one past its due time climbs one rung per 3 working days (~4.2 calendar days), up to the
# top of its unit's chain. 2% are cancelled; 2.5% wait for a citizen who never answered (paused, open
# for 120 days, then cancelled). Answered tickets close 7 days after the answer; 6.5% of
# closed ones were objected to (1% twice); 3% of those answered in the last 7 days are open appeals.
_TICKETS_SQL = """
WITH s1 AS MATERIALIZED (
    SELECT d.*, bu.id AS base_unit, bu.max_level, bu.coords,
           bb.b AS beneficiary_id,
           CASE WHEN bb.b % 4 = 0 AND d.r_conv < 0.4 THEN :nb + bb.b / 4 ELSE bb.b END AS conversation_id,
           CASE WHEN d.r_cat < 0.46 THEN 'inquiry' WHEN d.r_cat < 0.78 THEN 'complaint'
                WHEN d.r_cat < 0.90 THEN 'consultation' ELSE 'suggestion' END AS category,
           CASE WHEN cardinality(bu.services) = 0 OR d.r_svc < 0.12 THEN NULL
                ELSE bu.services[1 + floor((d.r_svc - 0.12) / 0.88 * cardinality(bu.services))::int] END AS service_key,
           CASE WHEN d.r_misc BETWEEN 0.40 AND 0.47 THEN 'en' ELSE 'ar' END AS language,
           d.created_at + dd.due5 * interval '1 day' AS first_due_at,
           CASE WHEN d.r_mix < 0.05 THEN 240 + 480 * d.r_d1
                ELSE 48 * exp(0.9 * sqrt(-2 * ln(greatest(d.r_d1, 1e-12))) * cos(2 * pi() * d.r_d2)) END AS delay_h
    FROM bench_draw d
    JOIN bench_slot s ON s.i = floor(d.r_unit * :slots)::int
    JOIN bench_unit bu ON bu.id = s.unit_id
    JOIN bench_day dd ON dd.day = (d.created_at AT TIME ZONE 'Asia/Riyadh')::date
    CROSS JOIN LATERAL (SELECT 1 + floor(:nb * power(d.r_b, 1.3))::int AS b) AS bb
), s2 AS MATERIALIZED (
    SELECT s1.*, s1.created_at + s1.delay_h * interval '1 hour' AS answered_at,
           CASE WHEN s1.r_cancel < 0.02 THEN 'cancelled'
                WHEN s1.r_mix >= 0.05 AND s1.r_mix < 0.075
                     THEN CASE WHEN s1.created_at > CAST(:now AS timestamptz) - interval '120 days' THEN 'waiting'
                               ELSE 'cancelled' END
                WHEN s1.created_at + s1.delay_h * interval '1 hour' > CAST(:now AS timestamptz) THEN 'open'
                WHEN s1.created_at + s1.delay_h * interval '1 hour' > CAST(:now AS timestamptz) - interval '7 days'
                     THEN CASE WHEN s1.r_obj < 0.03 THEN 'appeal' ELSE 'answered' END
                ELSE 'closed' END AS kind
    FROM s1
), s3 AS MATERIALIZED (
    SELECT s2.*,
           CASE WHEN s2.kind = 'appeal' THEN 1
                WHEN s2.kind = 'closed' AND s2.r_obj < 0.01 THEN 2
                WHEN s2.kind = 'closed' AND s2.r_obj < 0.065 THEN 1 ELSE 0 END AS objections,
           CASE WHEN s2.kind IN ('cancelled', 'waiting') THEN 0
                WHEN least(s2.answered_at, CAST(:now AS timestamptz)) > s2.first_due_at
                THEN 1 + floor(extract(epoch FROM least(s2.answered_at, CAST(:now AS timestamptz)) - s2.first_due_at)
                               / (4.2 * 86400))::int
                ELSE 0 END AS breach_level,
           s2.kind IN ('answered', 'closed', 'appeal') AS was_answered
    FROM s2
), s4 AS MATERIALIZED (
    SELECT s3.*, least(s3.max_level, s3.breach_level + s3.objections) AS level,
           CASE WHEN s3.kind = 'cancelled' THEN 'cancelled'
                WHEN s3.kind = 'open' AND least(s3.max_level, s3.breach_level) > 0 THEN 'escalated'
                WHEN s3.kind = 'open' AND s3.r_stat < 0.08 THEN 'new'
                WHEN s3.kind = 'open' AND s3.r_stat < 0.33 THEN 'assigned'
                WHEN s3.kind IN ('open', 'waiting') THEN 'in_progress'
                WHEN s3.kind = 'appeal' AND s3.r_stat < 0.05 THEN 'objected'
                WHEN s3.kind = 'appeal' THEN 'escalated'
                ELSE s3.kind END AS status
    FROM s3
), s5 AS MATERIALIZED (
    SELECT s4.*,
           CASE WHEN s4.level = 0 THEN NULL
                WHEN s4.kind = 'appeal' THEN CAST(:now AS timestamptz) - s4.r_misc * interval '3 days'
                WHEN s4.breach_level = 0 THEN s4.answered_at + interval '2 days'
                ELSE s4.first_due_at + (least(s4.breach_level, s4.max_level) - 1) * interval '4.2 days' END
               AS last_escalated_at,
           CASE WHEN s4.kind = 'waiting'
                THEN least(s4.created_at + s4.delay_h * interval '30 minutes', CAST(:now AS timestamptz))
                WHEN s4.status = 'in_progress' AND s4.r_misc < 0.05
                THEN s4.created_at + (CAST(:now AS timestamptz) - s4.created_at) * 0.6 END AS paused_at,
           CASE WHEN s4.kind = 'closed' THEN s4.answered_at + interval '7 days'
                WHEN s4.kind = 'cancelled' AND s4.r_cancel < 0.02
                THEN least(CAST(:now AS timestamptz), s4.created_at + s4.r_misc * interval '2 days')
                WHEN s4.kind = 'cancelled' THEN s4.created_at + interval '30 days' END AS closed_at
    FROM s4
)
INSERT INTO tickets (id, number, beneficiary_id, conversation_id, channel, category, status, priority, unit_id,
                     assignee_id, service_key, escalation_level, objection_count, language, subject, needs_triage,
                     nlu_confidence, created_at, due_at, first_due_at, paused_at, sla_remaining_s, first_response_at,
                     answered_at, closed_at, last_escalated_at, first_response_working_h, resolution_working_h,
                     updated_at)
SELECT t.id,
       to_char(t.created_at AT TIME ZONE 'Asia/Riyadh', 'YYYY') || '-'
           || lpad(t.id::text, greatest(6, length(t.id::text)), '0'),
       t.beneficiary_id, t.conversation_id, c.channel, t.category, t.status,
       CASE WHEN t.base_unit = :protection AND t.r_misc < 0.6 THEN 'urgent'
            WHEN t.r_misc > 0.98 THEN 'high' ELSE 'normal' END,
       up.target,
       CASE WHEN t.status IN ('new', 'cancelled') THEN NULL
            WHEN t.level = 0 THEN t.coords[1 + floor(t.r_coord * cardinality(t.coords))::int]
            ELSE tu.head END,
       t.service_key, t.level, t.objections, t.language,
       left(coalesce(CASE WHEN t.language = 'en' THEN sv.kw_en[1 + floor(t.r_kw * cardinality(sv.kw_en))::int]
                          ELSE sv.kw_ar[1 + floor(t.r_kw * cardinality(sv.kw_ar))::int] END,
                     CASE WHEN t.language = 'en'
                          THEN (CAST(:generic_en AS text[]))[1 + floor(t.r_kw * cardinality(CAST(:generic_en AS text[])))::int]
                          ELSE (CAST(:generic_ar AS text[]))[1 + floor(t.r_kw * cardinality(CAST(:generic_ar AS text[])))::int] END)
            || ' ' ||
            CASE WHEN t.language = 'en'
                 THEN (CAST(:fill_en AS text[]))[1 + floor(t.r_fill * cardinality(CAST(:fill_en AS text[])))::int]
                 ELSE (CAST(:fill_ar AS text[]))[1 + floor(t.r_fill * cardinality(CAST(:fill_ar AS text[])))::int] END
            || CASE WHEN t.r_school < 0.3 THEN ' - مدرسة ' || (100 + floor(t.r_school * 3000))::int ELSE '' END, 300),
       t.base_unit = :triage AND t.r_misc < 0.12,
       round((0.45 + 0.55 * t.r_conv)::numeric, 3),
       t.created_at,
       CASE WHEN t.level = 0 THEN t.first_due_at ELSE t.last_escalated_at + interval '4.2 days' END,
       t.first_due_at,
       t.paused_at,
       CASE WHEN t.paused_at IS NOT NULL
            THEN greatest(0, extract(epoch FROM t.first_due_at - t.paused_at)) * 5 / 7 END,
       CASE WHEN t.was_answered THEN t.answered_at ELSE t.paused_at END,
       CASE WHEN t.was_answered THEN t.answered_at END,
       t.closed_at,
       t.last_escalated_at,
       CASE WHEN t.was_answered THEN round((t.delay_h / 1.4)::numeric, 2)
            WHEN t.paused_at IS NOT NULL
            THEN round((extract(epoch FROM t.paused_at - t.created_at) / 3600 / 1.4)::numeric, 2) END,
       CASE WHEN t.kind IN ('answered', 'closed') THEN round((t.delay_h / 1.4 + 18 * t.objections)::numeric, 2) END,
       least(CAST(:now AS timestamptz),
             greatest(t.created_at, CASE WHEN t.was_answered THEN t.answered_at END, t.last_escalated_at, t.paused_at,
                      t.closed_at))
FROM s5 AS t
JOIN conversations c ON c.id = t.conversation_id
LEFT JOIN bench_svc sv ON sv.key = t.service_key
JOIN bench_up up ON up.unit_id = t.base_unit AND up.level = t.level
JOIN bench_unit tu ON tu.id = up.target
ORDER BY t.id
"""

_FK_CHECK = """
SELECT (SELECT count(*) FROM tickets t LEFT JOIN conversations c ON c.id = t.conversation_id WHERE c.id IS NULL)
     + (SELECT count(*) FROM tickets t LEFT JOIN beneficiaries b ON b.id = t.beneficiary_id WHERE b.id IS NULL)
     + (SELECT count(*) FROM tickets t LEFT JOIN units u ON u.id = t.unit_id WHERE u.id IS NULL)
     + (SELECT count(*) FROM tickets t LEFT JOIN users u ON u.id = t.assignee_id
        WHERE t.assignee_id IS NOT NULL AND u.id IS NULL)
     + (SELECT count(*) FROM tickets t JOIN conversations c ON c.id = t.conversation_id
        WHERE c.beneficiary_id <> t.beneficiary_id)
"""


def describe_load(db: Database, plans: list[UnitPlan], total_weight: float) -> dict[str, Any]:
    """What was generated, counted back from the database."""
    facts: dict[str, Any] = {}
    with db.read_session() as s:
        for table_name in (
            "beneficiaries",
            "channel_identities",
            "conversations",
            "tickets",
            "messages",
            "audit_events",
            "csat_ratings",
        ):
            facts[table_name] = s.execute(text(f"SELECT count(*) FROM {table_name}")).scalar_one()
        facts["status"] = dict(s.execute(text("SELECT status, count(*) FROM tickets GROUP BY 1 ORDER BY 2 DESC")).all())
        facts["category"] = dict(
            s.execute(text("SELECT category, count(*) FROM tickets GROUP BY 1 ORDER BY 2 DESC")).all()
        )
        facts["channel"] = dict(
            s.execute(text("SELECT channel, count(*) FROM tickets GROUP BY 1 ORDER BY 2 DESC")).all()
        )
        facts["level"] = dict(
            s.execute(text("SELECT escalation_level, count(*) FROM tickets GROUP BY 1 ORDER BY 1")).all()
        )
        facts["objected"] = s.execute(text("SELECT count(*) FROM tickets WHERE objection_count > 0")).scalar_one()
        facts["with_service"] = s.execute(
            text("SELECT count(*) FROM tickets WHERE service_key IS NOT NULL")
        ).scalar_one()
        facts["sla_met"] = s.execute(
            text(
                "SELECT round(avg((first_response_at <= first_due_at)::int), 4) FROM tickets"
                " WHERE first_response_at IS NOT NULL"
            )
        ).scalar_one()
        facts["top_units"] = [
            tuple(row)
            for row in s.execute(
                text(
                    "SELECT u.key, count(*) FROM tickets t JOIN units u ON u.id = t.unit_id"
                    " GROUP BY 1 ORDER BY 2 DESC LIMIT 8"
                )
            )
        ]
        facts["tickets_per_citizen_max"] = s.execute(
            text("SELECT max(n) FROM (SELECT count(*) AS n FROM tickets GROUP BY beneficiary_id) AS x")
        ).scalar_one()
        facts["table_mb"] = s.execute(text("SELECT pg_total_relation_size('tickets') / 1048576")).scalar_one()
        facts["heap_mb"] = s.execute(text("SELECT pg_relation_size('tickets') / 1048576")).scalar_one()
        facts["db_mb"] = s.execute(text("SELECT pg_database_size(current_database()) / 1048576")).scalar_one()
    shares = {
        "central-care": sum(p.weight for p in plans if p.key == "central-care"),
        "education departments": sum(
            p.weight for p in plans if p.kind in ("education_region", "education_governorate")
        ),
        "universities": sum(p.weight for p in plans if p.kind == "university"),
        "directorates and protection": sum(p.weight for p in plans if p.kind in ("directorate", "protection_unit")),
    }
    facts["unit_shares"] = {k: round(v / total_weight, 3) for k, v in shares.items()}
    return facts


# --- measuring -----------------------------------------------------------------------------------------


@dataclass
class Stmt:
    sql: str
    params: Any
    ms: float


class Recorder:
    """Every statement the engine runs while capturing, with its time (for EXPLAIN of the slowest)."""

    def __init__(self, db: Database) -> None:
        self.active: list[Stmt] | None = None
        event.listen(db.engine, "before_cursor_execute", self._before)
        event.listen(db.engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        t0 = conn.info.pop("bench_t0", time.perf_counter())
        if self.active is not None:
            self.active.append(Stmt(statement, parameters, (time.perf_counter() - t0) * 1000))

    @contextmanager
    def capture(self) -> Iterator[list[Stmt]]:
        self.active = []
        try:
            yield self.active
        finally:
            self.active = None


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


@dataclass
class Figure:
    section: str
    what: str
    p50_ms: float
    p95_ms: float | None
    n: int
    target_ms: float | None
    baseline_ms: float
    baseline: str
    note: str = ""

    @property
    def ok(self) -> bool | None:
        if self.target_ms is None:
            return None
        return (self.p95_ms if self.p95_ms is not None else self.p50_ms) <= self.target_ms


@dataclass
class Slowest:
    ms: float = -1.0
    label: str = ""
    stmts: list[Stmt] = field(default_factory=list)

    def offer(self, ms: float, label: str, stmts: list[Stmt]) -> None:
        if ms > self.ms:
            self.ms, self.label, self.stmts = ms, label, list(stmts)


@dataclass
class Bench:
    db: Database
    recorder: Recorder
    tree: OrgTree
    now: datetime
    rng: random.Random
    max_id: int
    calls: int
    warmup: int = 20
    figures: list[Figure] = field(default_factory=list)
    slowest: dict[str, Slowest] = field(default_factory=dict)

    def baseline(self, n: int = 300) -> float:
        """p50 of one indexed lookup by primary key, one read transaction per call."""
        times = []
        for _ in range(n):
            ticket_id = self.rng.randint(1, self.max_id)
            t0 = time.perf_counter()
            with self.db.read_session() as s:
                s.execute(text("SELECT number FROM tickets WHERE id = :id"), {"id": ticket_id}).scalar_one_or_none()
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)
        target = f"target ≤ {figure.target_ms:g} ms" if figure.target_ms is not None else ""
        p95 = f" p95 {figure.p95_ms:9.1f} ms" if figure.p95_ms is not None else " " * 17
        ratio = (figure.p95_ms if figure.p95_ms is not None else figure.p50_ms) / figure.baseline_ms
        verdict = "" if figure.ok is None else ("ok" if figure.ok else "MISSED")
        print(
            f"  {figure.what:<52} p50 {figure.p50_ms:9.1f} ms{p95}  n={figure.n:<4} "
            f"{ratio:8.1f}× {figure.baseline} ({figure.baseline_ms:.2f} ms)  {target} {verdict} {figure.note}",
            flush=True,
        )


@dataclass
class Persona:
    label: str
    username: str
    unit_ids: frozenset[int] | None
    samples: dict[str, list[str]] = field(default_factory=dict)
    numbers: list[str] = field(default_factory=list)
    token: str = ""


def make_personas(b: Bench) -> list[Persona]:
    """Sign in (sessions as the API makes them) and sample search terms from each scope."""
    wanted = [
        ("coordinator, central-care (largest unit)", "central-care.coordinator1"),
        ("coordinator, edu-jeddah (governorate office)", "edu-jeddah.coordinator1"),
        ("supervisor, edu-riyadh region (11 units)", "edu-riyadh.supervisor1"),
        ("admin (all units)", "bench-admin"),
    ]
    personas = []
    with b.db.session() as s:
        if s.execute(select(User.id).where(User.username == "bench-admin")).scalar_one_or_none() is None:
            s.add(User(username="bench-admin", name_ar="مدير", name_en="Admin", role=Role.ADMIN))
            s.flush()
        for _, username in wanted:
            people.set_password(s, username, PASSWORD)
    for label, username in wanted:
        with b.db.session() as s:
            user = s.execute(select(User).where(User.username == username)).scalar_one()
            token, _ = people.open_session(s, user)
            principal = people.resolve_session(s, token)
            assert principal is not None
        persona = Persona(label, username, scope_for(principal, b.tree).unit_ids, token=token)
        with b.db.read_session() as s:
            where = "" if persona.unit_ids is None else "WHERE t.unit_id = ANY(:units)"
            rows = s.execute(
                text(
                    f"SELECT t.number, b.display_name, b.phone, t.subject FROM tickets t "
                    f"JOIN beneficiaries b ON b.id = t.beneficiary_id {where} "
                    f"ORDER BY random() LIMIT 400"
                ),
                {"units": sorted(persona.unit_ids or [])},
            ).all()
        persona.numbers = [r[0] for r in rows]
        persona.samples = {
            "number": [_number_as_typed(r[0], i) for i, r in enumerate(rows)],
            # a full name as it appears on the record, or the family name alone (3 in 10)
            "name": [r[1] if i % 10 >= 3 else r[1].split()[-1] for i, r in enumerate(rows)],
            "phone": [r[2][-9:] if i % 2 else "0" + r[2][-9:] for i, r in enumerate(rows)],
            "text": [_words(r[3], i) for i, r in enumerate(rows)],
        }
        personas.append(persona)
    return personas


def _number_as_typed(number: str, i: int) -> str:
    """How people type a ticket number: as printed, without the dash, or in Arabic-Indic digits."""
    if i % 3 == 1:
        return number.replace("-", "")
    if i % 3 == 2:
        return number.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    return number


def _words(subject: str, i: int) -> str:
    """What a coordinator types to find a ticket by its text: one word, or two consecutive ones."""
    words = subject.split()
    plain = [k for k, w in enumerate(words) if w != "-" and not w.isdigit()]
    if not plain:
        return subject[:10]
    k = plain[i % len(plain)]
    if i % 3 == 0 or k + 1 >= len(words) or k + 1 not in plain:  # one word: a real one, not "في"
        return max((words[j] for j in plain if j >= k), key=len)
    return f"{words[k]} {words[k + 1]}"


FILTERS = ("open", "overdue", "category", "number", "name", "phone", "text")


def make_filter(kind: str, persona: Persona, i: int) -> queries.TicketFilter:
    if kind == "open":
        return queries.TicketFilter(statuses=OPEN)
    if kind == "overdue":
        return queries.TicketFilter(sla="overdue")
    if kind == "category":
        return queries.TicketFilter(categories=(("complaint", "inquiry", "suggestion", "consultation")[i % 4],))
    return queries.TicketFilter(q=persona.samples[kind][i % len(persona.samples[kind])])


def filter_query(kind: str, persona: Persona, i: int) -> str:
    """The same filters as inbox query strings."""
    flt = make_filter(kind, persona, i)
    if flt.statuses:
        return "status=" + ",".join(flt.statuses)
    if flt.sla:
        return "sla=" + flt.sla
    if flt.categories:
        return "category=" + flt.categories[0]
    from urllib.parse import quote

    return "q=" + quote(flt.q or "")


def bench_lists(b: Bench, personas: list[Persona]) -> None:
    print("\n== coordinator's filtered ticket list: queries.list_tickets (one read transaction per call)")
    for persona in personas:
        if persona.username == "bench-admin":
            continue
        base = b.baseline()
        print(f" {persona.label}: scope {len(persona.unit_ids or ())} unit(s)")
        for kind in FILTERS:  # warm up (other search terms than the measured ones), not recorded
            for i in range(b.calls, b.calls + b.warmup):
                with b.db.read_session() as s:
                    queries.list_tickets(s, persona.unit_ids, make_filter(kind, persona, i), now=utcnow())
        everything: list[float] = []
        for kind in FILTERS:
            times, found = [], 0
            for i in range(b.calls):
                flt = make_filter(kind, persona, i)
                with b.recorder.capture() as stmts:
                    t0 = time.perf_counter()
                    with b.db.read_session() as s:
                        rows = queries.list_tickets(s, persona.unit_ids, flt, now=utcnow())
                    ms = (time.perf_counter() - t0) * 1000
                times.append(ms)
                found += len(rows)
                b.slowest.setdefault("list", Slowest()).offer(ms, f"{persona.label} / {kind}", stmts)
                b.slowest.setdefault(f"list:{kind}", Slowest()).offer(ms, f"{persona.label} / {kind}", stmts)
            everything += times
            b.add(
                Figure(
                    "list",
                    f"{persona.username} {kind}",
                    statistics.median(times),
                    pct(times, 95),
                    len(times),
                    50,
                    base,
                    "baseline",
                    f"({found / len(times):.0f} rows/call)",
                )
            )
        b.add(
            Figure(
                "list",
                f"{persona.username} all filters",
                statistics.median(everything),
                pct(everything, 95),
                len(everything),
                50,
                base,
                "baseline",
            )
        )


def bench_timeline_fn(b: Bench, persona: Persona) -> None:
    print("\n== conversation timeline: queries.timeline")
    base = b.baseline()
    times = []
    with b.db.read_session() as s:
        beneficiaries = [
            s.execute(text("SELECT beneficiary_id FROM tickets WHERE number = :n"), {"n": n}).scalar_one()
            for n in persona.numbers
        ]
    items = 0
    for i in range(b.calls):
        beneficiary_id = beneficiaries[i % len(beneficiaries)]
        with b.recorder.capture() as stmts:
            t0 = time.perf_counter()
            with b.db.read_session() as s:
                items += len(queries.timeline(s, beneficiary_id))
            ms = (time.perf_counter() - t0) * 1000
        times.append(ms)
        b.slowest.setdefault("timeline", Slowest()).offer(ms, persona.label, stmts)
    b.add(
        Figure(
            "timeline",
            f"timeline, citizens of {persona.username}",
            statistics.median(times),
            pct(times, 95),
            len(times),
            100,
            base,
            "baseline",
            f"({items / len(times):.0f} items/call)",
        )
    )


# --- the SLA sweep -------------------------------------------------------------------------------------


def backdate(b: Bench, fraction: float) -> dict[str, int]:
    """Make ``fraction`` of the open tickets past due (as after a beat outage), topping up what is.

    Only tickets the sweep may escalate are backdated (clock running, not paused, not already with
    the minister's office); on a reused database only the shortfall is added.
    """
    roots = [u.id for u in b.tree.by_id.values() if u.parent_id is None]
    eligible = "status = ANY(:running) AND paused_at IS NULL AND NOT (unit_id = ANY(:roots) AND escalation_level >= 1)"
    params: dict[str, Any] = {"running": list(CLOCK_RUNNING), "roots": roots, "now": b.now}
    with b.db.session() as s:
        open_ = s.execute(text("SELECT count(*) FROM tickets WHERE status = ANY(:o)"), {"o": list(OPEN)}).scalar_one()
        past_due = s.execute(text(f"SELECT count(*) FROM tickets WHERE {eligible} AND due_at <= :now"), params)
        missing = max(0, round(fraction * open_) - past_due.scalar_one())
        s.execute(text("SELECT setseed(0.31)"))
        moved = s.execute(
            text(
                f"UPDATE tickets SET due_at = CAST(:now AS timestamptz) - interval '1 minute'"
                f" - random() * interval '2 days' WHERE id IN (SELECT id FROM tickets WHERE {eligible}"
                f" AND due_at > :now ORDER BY random() LIMIT :n)"
            ),
            params | {"n": missing},
        ).rowcount  # type: ignore[attr-defined]
        counts = {
            "open": open_,
            "eligible": s.execute(text(f"SELECT count(*) FROM tickets WHERE {eligible}"), params).scalar_one(),
            "past_due": s.execute(
                text(f"SELECT count(*) FROM tickets WHERE {eligible} AND due_at <= :now"), params
            ).scalar_one(),
            "overdue_at_top": s.execute(
                text(
                    "SELECT count(*) FROM tickets WHERE status = ANY(:running) AND due_at <= :now"
                    " AND unit_id = ANY(:roots) AND escalation_level >= 1"
                ),
                params,
            ).scalar_one(),
            "backdated_now": int(moved or 0),
        }
    with b.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE tickets")
    return counts


def bench_sweep(b: Bench, counts: dict[str, int], dry_runs: int) -> None:
    print("\n== SLA sweep: escalation.sweep")
    print(
        f"  open tickets {counts['open']:,}; sweep-eligible {counts['eligible']:,}; past due {counts['past_due']:,}"
        f" ({counts['past_due'] / max(1, counts['open']):.2%} of open; {counts['backdated_now']:,} backdated by this"
        f" run); overdue at the top of the ladder (never escalated) {counts['overdue_at_top']:,}"
    )
    calendar = load_calendar(DATA / "calendar.yml")
    policy = SlaPolicy.from_file(DATA / "sla.yml", first_answer_days=5)
    ladder = escalation.Ladder(b.tree)
    base = b.baseline()
    now = utcnow()
    rolled_back = []
    for _ in range(dry_runs):  # the same sweep, rolled back: a steadier figure and the statements for EXPLAIN
        with b.recorder.capture() as stmts:
            t0 = time.perf_counter()
            with Session(b.db.engine) as s:
                found = escalation.sweep(s, ladder=ladder, policy=policy, calendar=calendar, now=now)
                s.flush()
                ms = (time.perf_counter() - t0) * 1000
                s.rollback()
        rolled_back.append(ms)
        b.slowest.setdefault("sweep", Slowest()).offer(ms, f"sweep of {found} tickets", stmts)
    if rolled_back:
        b.add(
            Figure(
                "sweep",
                f"sweep, rolled back ×{len(rolled_back)} (escalates {found:,})",
                statistics.median(rolled_back),
                None,
                len(rolled_back),
                10_000,
                base,
                "baseline",
            )
        )
    # Headroom: every sweep-eligible open ticket past due at once (rolled back).
    with Session(b.db.engine) as s:
        s.execute(
            text(
                "UPDATE tickets SET due_at = :now - interval '1 minute' WHERE status = ANY(:running) AND due_at > :now"
            ),
            {"now": now, "running": list(CLOCK_RUNNING)},
        )
        t0 = time.perf_counter()
        found = escalation.sweep(s, ladder=ladder, policy=policy, calendar=calendar, now=now)
        s.flush()
        stress_ms = (time.perf_counter() - t0) * 1000
        s.rollback()
    b.add(
        Figure(
            "sweep",
            f"stress: every eligible ticket past due, rolled back (escalates {found:,})",
            stress_ms,
            None,
            1,
            10_000,
            base,
            "baseline",
        )
    )
    t0 = time.perf_counter()
    with b.db.session() as s:
        first = escalation.sweep(s, ladder=ladder, policy=policy, calendar=calendar, now=now)
    first_ms = (time.perf_counter() - t0) * 1000
    b.add(Figure("sweep", f"sweep, committed (escalated {first:,})", first_ms, None, 1, 10_000, base, "baseline"))
    t0 = time.perf_counter()
    with b.db.session() as s:
        second = escalation.sweep(s, ladder=ladder, policy=policy, calendar=calendar, now=utcnow())
    second_ms = (time.perf_counter() - t0) * 1000
    b.add(
        Figure(
            "sweep",
            f"second sweep right after (found {second})",
            second_ms,
            None,
            1,
            10_000,
            base,
            "baseline",
            "ok: found 0" if second == 0 else "WRONG: must find 0",
        )
    )


# --- reports ---------------------------------------------------------------------------------------------


def bench_reports(b: Bench, personas: list[Persona], reps: int) -> None:
    print("\n== report set: reports.report")
    base = b.baseline()
    for persona in personas:
        if persona.username not in ("bench-admin", "edu-riyadh.supervisor1"):
            continue
        for label, days in (("30 days", 30), ("12 months", 365)):
            period = reports.Period(b.now - timedelta(days=days), b.now)
            times = []
            for _ in range(reps):
                with b.recorder.capture() as stmts:
                    t0 = time.perf_counter()
                    with b.db.read_session() as s:
                        data = reports.report(s, period, b.tree, now=utcnow(), unit_ids=persona.unit_ids)
                    ms = (time.perf_counter() - t0) * 1000
                times.append(ms)
                b.slowest.setdefault("report", Slowest()).offer(ms, f"{persona.username} {label}", stmts)
            b.add(
                Figure(
                    "report",
                    f"{persona.username}, {label} ({data['totals']['tickets']:,} tickets)",
                    statistics.median(times),
                    max(times),
                    len(times),
                    2000,
                    base,
                    "baseline",
                    "(p95 column = max)",
                )
            )


# --- the HTTP API ------------------------------------------------------------------------------------------


async def bench_http(b: Bench, personas: list[Persona], dashboard_reps: int) -> None:
    import aiohttp
    from aiohttp import web

    from hub.config import load_settings
    from hub.web.api.common import RUNTIME
    from hub.web.app import create_app

    print("\n== HTTP API on loopback (server time from a Server-Timing middleware; client round trip in notes)")
    tmp = Path(tempfile.mkdtemp(prefix="tawasul-bench-"))
    settings = load_settings(var_dir=tmp, database_url=b.db.url, broker_url="memory://")
    app = create_app(settings, publish=lambda ids: True, publish_delivery=lambda ids: True)

    @web.middleware
    async def server_timing(request: web.Request, handler: Any) -> web.StreamResponse:
        t0 = time.perf_counter()
        response = await handler(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - t0) * 1000:.3f}"
        return response

    app.middlewares.insert(0, server_timing)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as client:

            async def get(path: str, token: str | None) -> tuple[float, float, int]:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                t0 = time.perf_counter()
                async with client.get(path, headers=headers) as resp:
                    await resp.read()
                    wall = (time.perf_counter() - t0) * 1000
                    timing = resp.headers.get("Server-Timing", "app;dur=nan")
                    if resp.status != 200:
                        raise RuntimeError(f"{path}: HTTP {resp.status}")
                return float(timing.split("dur=")[1]), wall, resp.status

            async def series(
                path_of: Callable[[int], str], token: str | None, n: int
            ) -> tuple[list[float], list[float]]:
                server, wall = [], []
                for i in range(n):
                    s_ms, w_ms, _ = await get(path_of(i), token)
                    server.append(s_ms)
                    wall.append(w_ms)
                return server, wall

            coordinator = personas[0]
            await series(lambda i: "/healthz", None, 20)  # warm up
            health, _ = await series(lambda i: "/healthz", None, 200)
            me, _ = await series(lambda i: "/api/v1/me", coordinator.token, 200)
            health_p50, me_p50 = statistics.median(health), statistics.median(me)
            print(
                f"  baselines: GET /healthz p50 {health_p50:.2f} ms; GET /api/v1/me (session lookup) p50 {me_p50:.2f} ms"
            )
            for persona in personas:
                if persona.username == "bench-admin":
                    continue
                server_all: list[float] = []
                wall_all: list[float] = []
                for kind in FILTERS:
                    server, wall = await series(
                        lambda i, k=kind, p=persona: f"/api/v1/tickets?limit=50&{filter_query(k, p, i)}",  # type: ignore[misc]
                        persona.token,
                        b.calls,
                    )
                    server_all += server
                    wall_all += wall
                    b.add(
                        Figure(
                            "inbox",
                            f"GET /tickets {persona.username} {kind}",
                            statistics.median(server),
                            pct(server, 95),
                            len(server),
                            150,
                            me_p50,
                            "/me",
                            f"(round trip p95 {pct(wall, 95):.1f} ms)",
                        )
                    )
                b.add(
                    Figure(
                        "inbox",
                        f"GET /tickets {persona.username} all filters",
                        statistics.median(server_all),
                        pct(server_all, 95),
                        len(server_all),
                        150,
                        me_p50,
                        "/me",
                        f"(round trip p95 {pct(wall_all, 95):.1f} ms)",
                    )
                )
            for persona in personas[:2]:
                server, wall = await series(
                    lambda i, p=persona: f"/api/v1/tickets/{p.numbers[i % len(p.numbers)]}/timeline",  # type: ignore[misc]
                    persona.token,
                    b.calls,
                )
                b.add(
                    Figure(
                        "timeline",
                        f"GET /tickets/{{n}}/timeline {persona.username}",
                        statistics.median(server),
                        pct(server, 95),
                        len(server),
                        100,
                        me_p50,
                        "/me",
                        f"(round trip p95 {pct(wall, 95):.1f} ms)",
                    )
                )
            for persona in personas:
                if persona.username not in ("bench-admin", "edu-riyadh.supervisor1"):
                    continue
                server, wall = await series(lambda i: "/api/v1/reports", persona.token, dashboard_reps)
                b.add(
                    Figure(
                        "dashboard",
                        f"GET /reports (30 days) {persona.username}",
                        statistics.median(server),
                        max(server),
                        len(server),
                        1000,
                        me_p50,
                        "/me",
                        f"(p95 column = max; round trip max {max(wall):.0f} ms)",
                    )
                )
    finally:
        await runner.cleanup()
        app[RUNTIME].db.dispose()


# --- EXPLAIN ---------------------------------------------------------------------------------------------------


def explain(b: Bench, kinds: list[str]) -> None:
    print("\n== EXPLAIN (ANALYZE, BUFFERS) of the slowest statement of each kind")
    for kind in kinds:
        slow = b.slowest.get(kind)
        if slow is None or not slow.stmts:
            continue
        # Only queries can be explained (a SET LOCAL can be the slowest statement of a call when the
        # server stalls, e.g. on a checkpoint).
        stmts = sorted(
            (st for st in slow.stmts if st.sql.lstrip().upper().startswith(("SELECT", "WITH"))), key=lambda st: -st.ms
        )
        if kind == "sweep":
            chosen = [st for st in slow.stmts if st.sql.lstrip().upper().startswith(("UPDATE", "INSERT"))]
        else:
            chosen = stmts[:1]
        if not chosen:
            continue
        print(
            f"\n-- {kind}: slowest call {slow.ms:.1f} ms ({slow.label}); statement(s) below took "
            + ", ".join(f"{st.ms:.1f} ms" for st in chosen)
        )
        with b.db.engine.connect() as conn:
            for st in chosen:
                print(st.sql.strip())
                print(f"   params: {_short(st.params)}")
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + st.sql, st.params).scalars().all()
                print("\n".join("   " + line for line in plan))
            conn.rollback()


def _short(params: Any) -> str:
    text_ = json.dumps(params, default=str, ensure_ascii=False)
    return text_ if len(text_) < 600 else text_[:600] + "…"


# --- main -----------------------------------------------------------------------------------------------------


def markdown(figures: list[Figure]) -> str:
    lines = [
        "| section | figure | p50 | p95 (or max) | n | target | ratio to baseline | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        worst = f.p95_ms if f.p95_ms is not None else f.p50_ms
        target = f"≤ {f.target_ms:g} ms" if f.target_ms is not None else ""
        verdict = "" if f.ok is None else ("ok" if f.ok else "**missed**")
        p95 = f"{f.p95_ms:.1f} ms" if f.p95_ms is not None else ""
        lines.append(
            f"| {f.section} | {f.what} {f.note} | {f.p50_ms:.1f} ms | {p95} | {f.n} | {target} "
            f"| {worst / f.baseline_ms:.0f}× {f.baseline} ({f.baseline_ms:.2f} ms) | {verdict} |"
        )
    return "\n".join(lines)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("TAWASUL_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL URL on the server to use (the benchmark creates its own database there)",
    )
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--beneficiaries", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=200, help="calls per persona and filter (p50/p95)")
    parser.add_argument("--warmup", type=int, default=20, help="unrecorded calls per persona and filter first")
    parser.add_argument("--report-reps", type=int, default=5)
    parser.add_argument("--sweep-dry-runs", type=int, default=3)
    parser.add_argument("--overdue", type=float, default=0.01, help="share of open tickets made past due")
    parser.add_argument("--no-audit", action="store_true", help="skip the lifecycle audit rows")
    parser.add_argument("--seed", type=float, default=0.42)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--reuse", metavar="DBNAME", help="measure on an existing benchmark database")
    parser.add_argument("--only", default="list,timeline,http,sweep,reports", help="sections to run (comma-separated)")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args()
    only = set(args.only.split(","))

    admin_url = make_url(args.admin_url).set(drivername="postgresql+psycopg")
    name = args.reuse or f"tawasul_bench_tickets_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    load = os.getloadavg()
    print(f"Tawasul ticket-core benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start")
    with admin.connect() as conn:
        version = conn.exec_driver_sql("SHOW server_version").scalar_one()
        settings = {
            k: conn.exec_driver_sql(f"SHOW {k}").scalar_one()
            for k in ("shared_buffers", "work_mem", "effective_cache_size", "max_parallel_workers_per_gather", "jit")
        }
        if not args.reuse:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    print(f"PostgreSQL {version} ({', '.join(f'{k}={v}' for k, v in settings.items())}); database {name}")
    url = admin_url.set(database=name).render_as_string(hide_password=False).replace("+psycopg", "")
    db = Database(url, pool_size=4)
    results: dict[str, Any] = {"database": name, "machine": machine(), "postgres": version, "settings": settings}
    try:
        upgrade(db.engine)
        with db.session() as s:
            if not args.reuse:
                seed_org(s, DATA / "org.yml")
            tree = OrgTree.load(s)
        if not args.reuse:
            print(
                f"\n== generating {args.tickets:,} tickets for {args.beneficiaries:,} beneficiaries "
                f"(set-based INSERT ... SELECT FROM generate_series, setseed({args.seed}))"
            )
            gen = generate(
                db,
                tree,
                tickets=args.tickets,
                beneficiaries=args.beneficiaries,
                seed=args.seed,
                with_audit=not args.no_audit,
            )
            print(f"  total {gen.seconds:.0f} s")
            print("  " + json.dumps(gen.facts, ensure_ascii=False, default=str))
            results["generation"] = {
                "seconds": gen.seconds,
                "steps": [s.__dict__ for s in gen.steps],
                "facts": gen.facts,
            }
        with db.read_session() as s:
            max_id = s.execute(text("SELECT max(id) FROM tickets")).scalar_one()
        b = Bench(db, Recorder(db), tree, utcnow(), random.Random(7), max_id, args.calls, args.warmup)
        personas = make_personas(b)
        counts = backdate(b, args.overdue)
        results["sweep_scenario"] = counts
        if "list" in only:
            bench_lists(b, personas)
        if "timeline" in only:
            bench_timeline_fn(b, personas[0])
        if "http" in only:
            asyncio.run(bench_http(b, personas, max(3, args.report_reps)))
        if "sweep" in only:
            bench_sweep(b, counts, args.sweep_dry_runs)
        if "reports" in only:
            bench_reports(b, personas, args.report_reps)
        explain(b, ["sweep", "report", "list", "timeline", *[f"list:{k}" for k in FILTERS]])
        print("\n== summary (worst p95, or max where fewer calls, against target)")
        for f in b.figures:
            if f.target_ms is not None:
                worst = f.p95_ms if f.p95_ms is not None else f.p50_ms
                print(
                    f"  {'ok    ' if f.ok else 'MISSED'} {f.section:<9} {f.what:<55} {worst:9.1f} ms"
                    f" (target {f.target_ms:g} ms; {worst / f.baseline_ms:.1f}× {f.baseline})"
                )
        print("\n== figures as a Markdown table (for docs/benchmarks.md)")
        print(markdown(b.figures))
        results["figures"] = [f.__dict__ | {"ok": f.ok} for f in b.figures]
        results["load_at_end"] = os.getloadavg()
        if args.json:
            args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    finally:
        db.dispose()
        if args.keep:
            print(f'\nkept database {name} (drop it with: DROP DATABASE "{name}")')
        else:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            print(f"\ndropped database {name}")
        admin.dispose()


if __name__ == "__main__":
    main()
