"""Instagram through the real hub: signed webhooks stored once, and long Arabic replies split by UTF-8
bytes so every part fits the 1000-byte limit the fake enforces."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.meta import SIGNATURE_HEADER
from fakes.meta import INSTAGRAM_ID
from tests.connectors.facebook.testbed import MetaTestbed, meta_testbed, post_webhook
from ticket_core.db import Database
from ticket_core.models import OutboxStatus, utcnow

IGSID = "1034000000000001"


@pytest.fixture
async def bed(
    tmp_path: Path, db: Database, secrets_: dict[str, str], nlu_model_path: Path
) -> AsyncIterator[MetaTestbed]:
    async with meta_testbed(tmp_path, db, secrets_, nlu_model_path) as testbed:
        yield testbed


async def test_signed_webhook_is_stored_once_however_often_it_arrives(bed: MetaTestbed) -> None:
    call = bed.fake.instagram_message(IGSID, "أحتاج تحديث بيانات الحساب البنكي", mid="aWdfZAG1faXRlbTox_hub1")
    async with bed.web() as client:
        answers = [await post_webhook(client, "instagram", call.body, call.headers) for _ in range(2)]
        refused = await post_webhook(client, "instagram", call.body, {**call.headers, SIGNATURE_HEADER: "sha256=00"})
    assert [(s, a["stored"], a["duplicates"]) for s, a in answers] == [(200, 1, 0), (200, 0, 1)]
    assert refused[0] == 403
    assert bed.inbox_count() == 1


async def test_long_arabic_reply_is_split_into_parts_of_at_most_1000_bytes(bed: MetaTestbed) -> None:
    [outbox_id] = bed.intake(bed.fake.instagram_message(IGSID, "متى تبدأ إجازة منتصف العام؟"))
    long_text = ("نفيدكم بأن إجازة منتصف العام تبدأ بنهاية دوام يوم الخميس وفق التقويم الدراسي المعتمد، " * 15).strip()
    # Two parts would do in characters; in bytes it takes at least three.
    assert len(long_text) < 2000 < len(long_text.encode())
    bed.set_text(outbox_id, long_text)
    assert (await bed.deliver(outbox_id)).status == "sent"
    parts = bed.fake.texts_to(IGSID)
    assert len(parts) >= 3 and all(len(p.encode("utf-8")) <= 1000 for p in parts)
    assert " ".join(parts).split() == long_text.split()
    assert {m.node for m in bed.fake.sent} == {"me"}


async def test_arabic_reply_round_trip_is_byte_exact(bed: MetaTestbed) -> None:
    [outbox_id] = bed.intake(bed.fake.instagram_message(IGSID, "السلام عليكم"))
    assert (await bed.deliver(outbox_id)).status == "sent"
    assert bed.fake.sent[0].text.encode() == bed.row(outbox_id).text.encode()


async def test_throttled_send_is_retried_and_a_closed_window_is_dead(bed: MetaTestbed) -> None:
    [first] = bed.intake(bed.fake.instagram_message(IGSID, "كيف أسجل في برنامج موهبة؟"))
    bed.fake.fail_next(1, code=4)
    assert (await bed.deliver(first)).status == "retry"
    bed.make_due(first)
    assert (await bed.deliver(first)).status == "sent"

    [second] = bed.intake(bed.fake.instagram_message("1034000000000002", "عندي استفسار"))
    bed.fake.user_wrote("instagram", "1034000000000002", utcnow() - timedelta(days=2))
    assert (await bed.deliver(second)).status == "dead"
    row = bed.row(second)
    assert row.status is OutboxStatus.DEAD and (row.last_error or "").startswith("window closed: Instagram")
    assert bed.fake.sent[0].node == "me" and INSTAGRAM_ID in bed.row(first).account_ref
