"""Replies on X through the outbox and the fake X API: DMs, neutral public answers, quotas, failures."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from connectors.twitter import PUBLIC_ACK, PUBLIC_INVITE
from tests.connectors.twitter.conftest import FAHAD, NOURA, US, XHub
from ticket_core.models import Message, OutboxStatus, utcnow

MENTION = "2080768112540577793"


async def test_arabic_reply_arrives_by_dm_byte_exact_with_a_valid_oauth_signature(x_hub: XHub) -> None:
    outbox_id = x_hub.reply_for("المعلم يضرب الطلاب في الفصل وما أحد يحاسبه")
    outcome = await x_hub.delivery.deliver(outbox_id)
    row = x_hub.row(outbox_id)
    assert outcome.status == "sent" and row.status is OutboxStatus.SENT
    [dm] = x_hub.x.dms
    assert dm.recipient_id == NOURA and dm.dm_conversation_id == f"{US}-{NOURA}"
    assert dm.text.encode() == row.text.encode()
    assert row.content["ticket_number"] in dm.text
    assert x_hub.x.rejected_auth == 0 and x_hub.x.posts == []
    with x_hub.db.read_session() as session:
        message = session.execute(select(Message).where(Message.outbox_id == outbox_id)).scalar_one()
    assert message.platform_message_id == dm.dm_event_id


async def test_reply_to_a_mention_goes_by_dm_and_the_public_answer_is_neutral(x_hub: XHub) -> None:
    x_hub.x.register_mention(MENTION, FAHAD)
    outbox_id = x_hub.reply_for("تأخر صرف مكافأة التفوق لابنتي", thread=f"mention:{MENTION}", user=FAHAD)
    assert (await x_hub.delivery.deliver(outbox_id)).status == "sent"
    row = x_hub.row(outbox_id)
    [dm] = x_hub.x.dms
    assert dm.recipient_id == FAHAD and dm.text == row.text  # the real answer, in private
    [post] = x_hub.x.posts
    assert post.in_reply_to == MENTION
    assert post.text in PUBLIC_ACK["ar"]  # one of the fixed phrasings, nothing else
    assert row.content["ticket_number"] not in post.text and post.text not in row.text
    assert post.direct_message_deep_link == f"https://twitter.com/messages/compose?recipient_id={US}"


async def test_public_answers_never_repeat_and_are_skipped_when_no_phrasing_is_left(x_hub: XHub) -> None:
    # X refuses a post identical to one of ours; each mention gets the next unused phrasing, and
    # when none is left the DM still goes out.
    mentions = [str(int(MENTION) + n) for n in range(len(PUBLIC_ACK["ar"]) + 1)]
    for n, mention in enumerate(mentions):
        x_hub.x.register_mention(mention, FAHAD)
        outbox_id = x_hub.reply_for(f"استفسار رقم {n} عن النقل المدرسي", thread=f"mention:{mention}", user=FAHAD)
        assert (await x_hub.delivery.deliver(outbox_id)).status == "sent"
    assert len(x_hub.x.dms) == len(mentions)
    assert sorted(p.text for p in x_hub.x.posts) == sorted(PUBLIC_ACK["ar"])


async def test_long_reply_to_a_mention_is_split_and_answered_in_public_once(x_hub: XHub) -> None:
    x_hub.unthrottled()
    x_hub.x.register_mention(MENTION, FAHAD)
    outbox_id = x_hub.reply_for("ابني ما وصله النقل المدرسي من أسبوعين", thread=f"mention:{MENTION}", user=FAHAD)
    long_text = ("نفيدكم بأن إجازة منتصف العام تبدأ بنهاية دوام يوم الخميس وفق التقويم الدراسي المعتمد، " * 300).strip()
    x_hub.set_row(outbox_id, text=long_text)
    assert (await x_hub.delivery.deliver(outbox_id)).status == "sent"
    parts = [dm.text for dm in x_hub.x.dms]
    assert len(parts) == 3 and all(len(p) <= 10_000 for p in parts)
    assert " ".join(parts).split() == long_text.split()
    assert len(x_hub.x.posts) == 1


async def test_buttons_are_sent_as_numbered_lines(x_hub: XHub) -> None:
    outbox_id = x_hub.reply_for("السلام عليكم")
    row = x_hub.row(outbox_id)
    buttons = [{"title": "راضٍ", "payload": "rating:5"}, {"title": "غير راضٍ", "payload": "rating:1"}]
    x_hub.set_row(outbox_id, content={**row.content, "buttons": buttons})
    assert (await x_hub.delivery.deliver(outbox_id)).status == "sent"
    assert x_hub.x.dms[0].text.endswith("\n\n1. راضٍ\n2. غير راضٍ")


async def test_dm_refused_by_the_citizens_settings_is_dead_at_once_with_the_reason(x_hub: XHub) -> None:
    x_hub.x.close_dms(NOURA)
    outbox_id = x_hub.reply_for("ابغى اعرف موعد نزول الراتب")
    outcome = await x_hub.delivery.deliver(outbox_id)
    row = x_hub.row(outbox_id)
    assert outcome.status == "dead" and row.attempts == 1
    assert "DM settings" in (row.last_error or "") and "http=403" in (row.last_error or "")
    assert x_hub.x.posts == []


async def test_mention_from_a_citizen_with_closed_dms_gets_a_public_invitation_to_write(x_hub: XHub) -> None:
    x_hub.x.register_mention(MENTION, FAHAD)
    x_hub.x.close_dms(FAHAD)
    outbox_id = x_hub.reply_for("تأخر صرف العلاوة السنوية للمعلمين", thread=f"mention:{MENTION}", user=FAHAD)
    assert (await x_hub.delivery.deliver(outbox_id)).status == "dead"
    [post] = x_hub.x.posts
    assert post.text in PUBLIC_INVITE["ar"] and post.in_reply_to == MENTION
    assert "asked the citizen to write to us by DM" in (x_hub.row(outbox_id).last_error or "")


async def test_quota_429_waits_until_xs_reset_time_then_sends(x_hub: XHub) -> None:
    x_hub.unthrottled()
    ids = [x_hub.reply_for(f"استفسار رقم {i} عن النقل المدرسي", user=str(4_000_000_000 + i)) for i in range(16)]
    outcomes = await x_hub.delivery.deliver_many(ids)
    assert [o.status for o in outcomes].count("sent") == 15  # 15 DMs per 15 minutes for our account
    [limited] = [o for o in outcomes if o.status == "retry"]
    row = x_hub.row(limited.outbox_id)
    assert "http=429" in (row.last_error or "")
    # The outbox waits for x-rate-limit-reset (the end of the 15-minute window), not a short backoff.
    assert limited.retry_in_s is not None and limited.retry_in_s > 800
    assert row.next_attempt_at - utcnow() > timedelta(minutes=13)
    x_hub.x.advance(901)
    x_hub.make_due(limited.outbox_id)
    assert (await x_hub.delivery.deliver(limited.outbox_id)).status == "sent"
    assert len(x_hub.x.dms) == 16


async def test_daily_quota_429_waits_for_the_24_hour_window(x_hub: XHub) -> None:
    x_hub.x._dm_windows[1].limit = 1  # as if 1,439 DMs had gone out today
    first = x_hub.reply_for("سؤال عن موعد الاختبارات")
    second = x_hub.reply_for("سؤال عن موعد الاختبارات", user=FAHAD)
    assert (await x_hub.delivery.deliver(first)).status == "sent"
    outcome = await x_hub.delivery.deliver(second)
    assert outcome.status == "retry" and outcome.retry_in_s is not None and outcome.retry_in_s > 23 * 3600


async def test_x_server_error_is_retried_and_then_delivered_once(x_hub: XHub) -> None:
    outbox_id = x_hub.reply_for("نظام نور معطل من الصباح وما قدرت أسجل بنتي")
    x_hub.x.fail_next(1, status=503)
    outcome = await x_hub.delivery.deliver(outbox_id)
    assert outcome.status == "retry" and "http=503" in (x_hub.row(outbox_id).last_error or "")
    x_hub.make_due(outbox_id)
    assert (await x_hub.delivery.deliver(outbox_id)).status == "sent"
    assert len(x_hub.x.dms) == 1


async def test_revoked_credentials_are_terminal_and_say_to_re_authorise(x_hub: XHub) -> None:
    x_hub.x.access_secret = "rotated-after-a-revoke"  # our signatures no longer verify
    outbox_id = x_hub.reply_for("وش شروط النقل الخارجي؟")
    outcome = await x_hub.delivery.deliver(outbox_id)
    row = x_hub.row(outbox_id)
    assert outcome.status == "dead" and row.attempts == 1
    assert "re-authorise" in (row.last_error or "") and "http=401" in (row.last_error or "")
    assert x_hub.x.rejected_auth == 1 and x_hub.x.dms == []


async def test_missing_dm_permission_is_terminal_and_posts_nothing_in_public(x_hub: XHub) -> None:
    x_hub.x.register_mention(MENTION, FAHAD)
    x_hub.x.fail_next(
        1,
        status=403,
        detail="Your client app is not configured with the appropriate oauth1 app permissions for this endpoint.",
    )
    outbox_id = x_hub.reply_for("وش شروط النقل الخارجي؟", thread=f"mention:{MENTION}", user=FAHAD)
    assert (await x_hub.delivery.deliver(outbox_id)).status == "dead"
    assert "X app is not allowed to send DMs" in (x_hub.row(outbox_id).last_error or "")
    assert x_hub.x.posts == []  # the citizen did nothing wrong: no public invitation


async def test_gateway_error_page_without_json_is_retried(x_hub: XHub) -> None:
    outbox_id = x_hub.reply_for("نظام نور معطل")
    x_hub.x.fail_next(1, status=502, html=True)
    outcome = await x_hub.delivery.deliver(outbox_id)
    assert outcome.status == "retry" and "502" in (x_hub.row(outbox_id).last_error or "")
    x_hub.make_due(outbox_id)
    assert (await x_hub.delivery.deliver(outbox_id)).status == "sent"
