"""`tawasul demo`: a dozen realistic citizen messages through a running embedded hub.

It starts local fake platforms (Telegram Bot API, portal callback), an embedded hub (`tawasul
serve` with its worker) pointed at them with fresh credentials, posts signed messages to the real
webhook routes, waits for the replies to arrive at the fakes, and prints tickets and replies.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fakes.portal import portal_message
from fakes.stack import LocalStack, wait_for
from fakes.telegram import telegram_update

# (channel, sender, text): Saudi dialect and MSA, one English writer, one greeting, one status check.
MESSAGES: list[tuple[str, str, str]] = [
    ("telegram", "أحمد", "السلام عليكم، صار لي ثلاث شهور ما نزلت مكافأة ولدي في جامعة الملك سعود، وش السالفة؟"),
    ("telegram", "نورة", "متى يفتح التسجيل في رياض الأطفال للعام الجاي؟ ودي أسجل بنتي بدري"),
    ("portal", "منى", "تم رفض طلب نقل ابنتي من مدرسة في الخرج إلى الرياض بدون ذكر السبب رغم أني قدمت في الموعد"),
    ("telegram", "خالد", "ياليت تضيفون خاصية حفظ المسودة في منصة مدرستي، كل ما ينقطع النت يضيع الواجب"),
    ("portal", "عبدالله", "ولدي عنده صعوبات تعلم في القراءة، تنصحوني أسجله في برنامج التربية الخاصة ولا أنتظر سنة؟"),
    ("telegram", "ريم", "هلا والله"),
    ("telegram", "فهد", "المعلم يطرد ولدي من الحصة كل يوم بدون سبب والإدارة ما ترد علي"),
    (
        "portal",
        "Priya",
        "Hello, what documents do I need to register my son in a public school in Dammam? We have iqama.",
    ),
    ("telegram", "سارة", "وش شروط معادلة الشهادة الجامعية من جامعة أجنبية؟"),
    ("portal", "ماجد", "نقترح تمديد فترة التسجيل في النقل المدرسي أسبوع إضافي لأن كثير من الأهالي ما عرفوا"),
    ("telegram", "هند", "باص المدرسة يتأخر كل يوم نص ساعة وبنتي تنتظر في الشمس"),
    ("telegram", "أحمد", "وش صار على طلبي؟"),
]


def run_demo(var_dir: Path, model: Path | None, echo: Callable[[str], Any] = print, keep: bool = False) -> int:
    """Run the demo; returns 0 when every message was answered."""
    workdir = var_dir / "demo" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    workdir.mkdir(parents=True, exist_ok=True)
    stack = LocalStack(
        workdir,
        database_url=f"sqlite:///{workdir / 'demo.db'}",
        broker_url=f"sqla+sqlite:///{workdir / 'broker.sqlite'}",
        model=model,
    )
    try:
        echo("• starting fake Telegram and portal servers, and an embedded hub …")
        stack.prepare()
        stack.start_web(embedded_worker=True)
        echo(f"• hub ready at {stack.url}; sending {len(MESSAGES)} messages through /webhooks/<channel>")
        expected = _send(stack)
        wait_for(lambda: _replies(stack) >= expected, 120, "replies to every message", interval=0.5)
        time.sleep(1)
        _report(stack, echo)
        return 0
    except AssertionError as exc:
        echo(f"demo failed: {exc}\n{stack.logs()}")
        return 1
    finally:
        stack.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _send(stack: LocalStack) -> int:
    chats: dict[str, int] = {}
    for i, (channel, name, text) in enumerate(MESSAGES):
        if channel == "telegram":
            chat = chats.setdefault(name, 5550100 + len(chats))
            status, _ = stack.post_telegram(telegram_update(900100 + i, chat, text, first_name=name))
        else:
            language = "en" if text.isascii() else "ar"
            status, _ = stack.post(
                "portal", portal_message(f"demo-{i}", f"u-{name}", text, name=name, language=language), {}
            )
        if status != 200:
            raise AssertionError(f"webhook answered {status} for message {i + 1}")
    return len(MESSAGES)


def _replies(stack: LocalStack) -> int:
    return len(stack.telegram_texts()) + stack.portal.call(lambda: len(stack.portal.deliveries))


def _report(stack: LocalStack, echo: Callable[[str], Any]) -> None:
    tickets = stack.tickets()
    echo(f"\n{len(tickets)} tickets:")
    for t in tickets:
        echo(
            f"  {t['number']}  {t['channel']:<8} {t['category']:<12} {t['status']:<6} {t['unit']:<13} due {t['due_at'][:16]}  reply {t['delivery']}"
        )
    echo("\nreplies received by the fake platforms:")
    for chat, text in stack.telegram_texts():
        echo(f"  telegram chat {chat}: {text}")
    for delivery in stack.portal.call(lambda: list(stack.portal.deliveries)):
        echo(f"  portal user {delivery['user_id']}: {delivery['text']}")
