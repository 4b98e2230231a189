"""`tawasul demo`: realistic citizen messages on every channel through a running embedded hub.

It starts a local fake of every platform (Telegram Bot API, the portal's callback, Meta's Graph API
for Messenger/Instagram/WhatsApp, the X API, the Bot Framework for Skype/Teams/Web Chat), an embedded
hub (`tawasul serve` with its worker) pointed at them with fresh credentials, posts signed messages
to the real webhook routes exactly as each platform would (Snapchat through its signed relay), waits
for every reply to reach its platform, and prints the tickets and what each platform received.
Snapchat has no sending API: its replies are "send by hand" items in the outbox, printed as such.
The exit code is 0 only when every message was answered.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from fakes.stack import CHANNELS, LocalStack, Received, wait_for

MANUAL_LABEL = "أرسل يدوياً في سناب شات"
DONE_STATES = frozenset({"sent", "manual"})
FAILED_STATES = frozenset({"dead"})
ANSWER_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class DemoMessage:
    channel: str
    sender: str
    text: str
    mention: bool = False  # X: a public post that @mentions the service, not a DM
    api: str = "aaa"  # X: Account Activity ("aaa") or X Activity ("xaa") delivery
    language: str = "ar"
    after_reply: bool = False  # send only once this sender's earlier message was answered


# Saudi dialect and MSA, two English writers, a greeting and a status check; about two per channel.
MESSAGES: list[DemoMessage] = [
    DemoMessage(
        "telegram", "أحمد", "السلام عليكم، صار لي ثلاث شهور ما نزلت مكافأة ولدي في جامعة الملك سعود، وش السالفة؟"
    ),
    DemoMessage("telegram", "نورة", "متى يفتح التسجيل في رياض الأطفال للعام الجاي؟ ودي أسجل بنتي بدري"),
    DemoMessage(
        "portal", "منى", "تم رفض طلب نقل ابنتي من مدرسة في الخرج إلى الرياض بدون ذكر السبب رغم أني قدمت في الموعد"
    ),
    DemoMessage(
        "portal",
        "Priya",
        "Hello, what documents do I need to register my son in a public school in Dammam? We have iqama.",
        language="en",
    ),
    DemoMessage("facebook", "خالد", "ياليت تضيفون خاصية حفظ المسودة في منصة مدرستي، كل ما ينقطع النت يضيع الواجب"),
    DemoMessage("facebook", "ريم", "هلا والله"),
    DemoMessage("instagram", "فهد", "المعلم يطرد ولدي من الحصة كل يوم بدون سبب والإدارة ما ترد علي"),
    DemoMessage("instagram", "لمى", "أرجو إفادتي بمواعيد اختبار القدرات العامة للطلاب المنتسبين لهذا الفصل الدراسي"),
    DemoMessage(
        "whatsapp",
        "عبدالله",
        "ولدي عنده صعوبات تعلم في القراءة، تنصحوني أسجله في برنامج التربية الخاصة ولا أنتظر سنة؟",
    ),
    DemoMessage("whatsapp", "هند", "باص المدرسة يتأخر كل يوم نص ساعة وبنتي تنتظر في الشمس"),
    DemoMessage("twitter", "سارة", "وش شروط معادلة الشهادة الجامعية من جامعة أجنبية؟"),
    DemoMessage(
        "twitter",
        "ماجد",
        "نقترح تمديد فترة التسجيل في النقل المدرسي أسبوع إضافي لأن كثير من الأهالي ما عرفوا",
        mention=True,
        api="xaa",
    ),
    DemoMessage("skype", "يوسف", "أود الاستفسار عن إجراءات استخراج بدل فاقد لشهادة الثانوية العامة"),
    DemoMessage(
        "msteams",
        "سلمان",
        "نرجو التكرم بمعالجة مشكلة نظام نور، إذ لا يقبل تعديل تخصص المعلم منذ أسبوعين رغم رفع الطلب للإدارة",
    ),
    DemoMessage(
        "webchat",
        "John",
        "Hi, the school portal will not accept my daughter's transfer certificate from the UK. Who should I contact?",
        language="en",
    ),
    DemoMessage("webchat", "أم فيصل", "ولدي في ثالث متوسط يتعرض للتنمر من زملائه، كيف أقدم بلاغ؟"),
    DemoMessage("snapchat", "ريم الحربي", "متى يكتمل تسجيل بنتي في الصف الأول؟ رفعت شهادة الميلاد من أسبوع"),
    DemoMessage("snapchat", "تركي", "نسيت كلمة المرور حقت منصة مدرستي وما يوصلني رمز التحقق على الجوال"),
    DemoMessage("telegram", "أحمد", "وش صار على طلبي؟", after_reply=True),
]

CHANNEL_TITLES = {
    "telegram": "Telegram (fake Bot API)",
    "portal": "Portal / mobile app (fake signed callback)",
    "facebook": "Facebook Messenger (fake Graph API)",
    "instagram": "Instagram (fake Graph API)",
    "whatsapp": "WhatsApp (fake Cloud API)",
    "twitter": "X (fake X API)",
    "skype": "Skype (fake Bot Connector)",
    "msteams": "Microsoft Teams (fake Bot Connector)",
    "webchat": "Web Chat (fake Bot Connector)",
    "snapchat": "Snapchat (no sending API: manual outbox items)",
}


@dataclass(frozen=True)
class Sent:
    """A demo message as posted: where the platform will deliver our answer."""

    message: DemoMessage
    address: str
    post_id: str | None


def run_demo(var_dir: Path, model: Path | None, echo: Callable[[str], Any] = print, keep: bool = False) -> int:
    """Run the demo; returns 0 when every message was answered."""
    workdir = var_dir / "demo" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    stack = LocalStack(
        workdir,
        database_url=f"sqlite:///{workdir / 'demo.db'}",
        broker_url=f"sqla+sqlite:///{workdir / 'broker.sqlite'}",
        model=model,
    )
    sent: list[Sent] = []
    try:
        echo(f"• starting fake platforms for {len(CHANNELS)} channels and an embedded hub …")
        stack.boot(embedded_worker=True)
        channels = len({m.channel for m in MESSAGES})
        echo(f"• hub ready at {stack.url}; sending {len(MESSAGES)} signed messages on {channels} channels")
        _send(stack, sent)
        wait_for(lambda: _all_answered(stack, sent), ANSWER_TIMEOUT_S, "replies to every message", interval=0.3)
        time.sleep(0.5)  # let a trailing part of a split reply land before printing
        _report(stack, sent, echo)
        echo(f"\nevery message answered; demo took {time.monotonic() - started:.0f} s")
        return 0
    except AssertionError as exc:
        echo(f"demo failed: {exc}")
        _print_unanswered(stack, sent, echo)
        echo(stack.logs())
        return 1
    finally:
        stack.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _send(stack: LocalStack, sent: list[Sent]) -> None:
    for i, message in enumerate(MESSAGES):
        if message.after_reply:
            earlier = next(
                s for s in reversed(sent) if (s.message.channel, s.message.sender) == (message.channel, message.sender)
            )
            wait_for(partial(_replies_to, stack, earlier), ANSWER_TIMEOUT_S, f"{message.sender}'s first answer")
        call = stack.signed_message(
            message.channel,
            message.sender,
            message.text,
            mention=message.mention,
            api=message.api,
            language=message.language,
        )
        status, answer = stack.post_raw(call.channel, call.body, call.headers)
        if status != 200:
            raise AssertionError(f"/webhooks/{call.channel} answered {status} {answer} for message {i + 1}")
        sent.append(Sent(message, call.address, call.post_id))


def _replies_to(stack: LocalStack, sent: Sent) -> int:
    return sum(
        1 for r in stack.received(sent.message.channel) if r.address == sent.address and r.kind != "public reply"
    )


def _unanswered(stack: LocalStack, sent: list[Sent]) -> list[str]:
    """What is still missing: a reply per message at its platform (Snapchat: a manual outbox item),
    the public reply to each X mention, and no outbox row still waiting or dead."""
    received = stack.received()
    outbox = stack.outbox()
    missing: list[str] = []
    wanted = Counter((s.message.channel, s.address) for s in sent)
    got = Counter((r.channel, r.address) for r in received if r.kind != "public reply")
    got.update(
        ("snapchat", row["user_ref"]) for row in outbox if row["channel"] == "snapchat" and row["status"] == "manual"
    )
    for (channel, address), count in wanted.items():
        if got[(channel, address)] < count:
            what = "manual item(s)" if channel == "snapchat" else "reply(s)"
            missing.append(f"{channel}: {count - got[(channel, address)]} {what} for {address}")
    for s in sent:
        if s.post_id and not any(r.kind == "public reply" and r.address == s.post_id for r in received):
            missing.append(f"twitter: the public reply to post {s.post_id}")
    per_channel = Counter(s.message.channel for s in sent)
    rows = Counter(row["channel"] for row in outbox)
    for channel, count in per_channel.items():
        if rows[channel] < count:
            missing.append(f"{channel}: {count - rows[channel]} outbox row(s)")
    for row in outbox:
        if row["status"] not in DONE_STATES:
            missing.append(f"{row['channel']}: outbox {row['id']} is {row['status']} ({row['last_error'] or '-'})")
    return missing


def _all_answered(stack: LocalStack, sent: list[Sent]) -> bool:
    dead = [row for row in stack.outbox() if row["status"] in FAILED_STATES]
    if dead:  # a dead letter will not be delivered however long we wait
        raise AssertionError(
            "undeliverable: " + "; ".join(f"{r['channel']} outbox {r['id']}: {r['last_error']}" for r in dead)
        )
    return not _unanswered(stack, sent)


def _print_unanswered(stack: LocalStack, sent: list[Sent], echo: Callable[[str], Any]) -> None:
    try:
        for line in _unanswered(stack, sent):
            echo(f"  not answered: {line}")
    except Exception as exc:  # the report is best effort: the failure itself is already printed
        echo(f"  (could not list unanswered messages: {type(exc).__name__})")


def _one_line(text: str) -> str:
    return " ⏎ ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _report(stack: LocalStack, sent: list[Sent], echo: Callable[[str], Any]) -> None:
    tickets = stack.ticket_rows()
    outbox = stack.outbox()
    echo(f"\n{len(tickets)} tickets, each routed to a unit:")
    for t in tickets:
        echo(
            f"  {t['number']}  {t['channel']:<9} {t['category']:<12} {t['status']:<6} unit {t['unit']:<16} "
            f"due {t['due_at'][:16]}  reply {t['delivery']}"
        )

    echo("\nwhat each platform received:")
    received = stack.received()
    for channel in CHANNELS:
        count = sum(1 for s in sent if s.message.channel == channel)
        echo(f"\n  {CHANNEL_TITLES[channel]} — {count} message(s) in")
        if channel == "snapchat":
            for row in outbox:
                if row["channel"] == "snapchat":
                    who = stack.name_of("snapchat", row["user_ref"]) or row["user_ref"]
                    label = MANUAL_LABEL if row["status"] == "manual" else row["status"]
                    echo(f"    «{label}» → {who} ({row['user_ref']}), ticket {row['ticket'] or '-'}:")
                    echo(f"      {_one_line(row['text'])}")
            continue
        for r in (r for r in received if r.channel == channel):
            echo(f"    {_describe(r)}: {_one_line(r.text)}")


def _describe(r: Received) -> str:
    who = r.user or "?"
    if r.kind == "public reply":
        return f"public reply to the @mention by {who} (post {r.address})"
    if r.channel == "twitter":
        return f"DM → {who} ({r.address})"
    if r.channel in ("skype", "msteams", "webchat"):
        return f"→ {who} (conversation {r.address[:24]}{'…' if len(r.address) > 24 else ''})"
    if r.channel == "whatsapp":
        return f"→ {who} (+{r.address})"
    if r.channel == "telegram":
        return f"→ {who} (chat {r.address})"
    return f"→ {who} ({r.address})"
