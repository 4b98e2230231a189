"""Delivery: take an outbox row, send it on its channel within the channel's rate, record the result.

The template (after Chatwoot's SendOnChannelService): claim the row, skip what must not be sent,
split to the channel's length, send part by part under a token bucket, then mark sent — or keep
the platform's reason and schedule a retry or dead-letter it. Database calls run in threads so one
slow commit never stalls the sends sharing this event loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from connectors.base import Button, Connector, DeliveryError, OutboundMessage, split_text
from connectors.registry import ConnectorRegistry, UnknownChannel
from ticket_core import health, outbox
from ticket_core.db import Database

log = logging.getLogger("tawasul.delivery")


class TokenBucket:
    """Classic token bucket: ``rate`` tokens per second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(max(burst, 1))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


@dataclass(frozen=True)
class DeliveryOutcome:
    outbox_id: int
    status: str  # sent | retry | dead | manual | skipped
    retry_in_s: float | None = None


@dataclass
class _Attempt:
    claimed: outbox.Claimed
    parts_sent: int = 0
    platform_ids: list[str] = field(default_factory=list)
    error: DeliveryError | None = None
    manual: bool = False
    claimed_at: float = field(default_factory=time.monotonic)  # when the lease was last set
    lost: bool = False  # the lease ran out while waiting for a rate-limit token: not ours to send


class DeliveryService:
    """Sends outbox rows; one instance per worker process (it owns the rate-limit buckets).

    A batch costs two database transactions however many rows it has: one claim, one result.
    """

    def __init__(
        self,
        db: Database,
        registry: ConnectorRegistry,
        *,
        policy: outbox.RetryPolicy,
        lease: timedelta,
        rates: dict[str, float] | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.policy = policy
        self.lease = lease
        self._rates = rates or {}
        self._buckets: dict[str, TokenBucket] = {}

    def _bucket(self, connector: Connector) -> TokenBucket:
        if connector.name not in self._buckets:
            caps = connector.capabilities
            rate = self._rates.get(connector.name, caps.rate_per_s)
            # Any one-second window sees at most burst + rate sends; keep the burst within one
            # second's worth so a configured rate below the platform's limit stays below it.
            self._buckets[connector.name] = TokenBucket(rate, min(caps.burst, max(1, math.ceil(rate))))
        return self._buckets[connector.name]

    async def deliver(self, outbox_id: int) -> DeliveryOutcome:
        [outcome] = await self.deliver_many([outbox_id])
        return outcome

    async def deliver_many(self, outbox_ids: list[int]) -> list[DeliveryOutcome]:
        claimed = await asyncio.to_thread(self._claim, outbox_ids)
        attempts = await asyncio.gather(*(self._attempt(c) for c in claimed))
        outcomes = {o.outbox_id: o for o in await asyncio.to_thread(self._record, list(attempts))}
        return [outcomes.get(i, DeliveryOutcome(i, "skipped")) for i in outbox_ids]

    async def _attempt(self, claimed: outbox.Claimed) -> _Attempt:
        attempt = _Attempt(claimed, parts_sent=claimed.parts_sent)
        try:
            connector = self.registry.get(claimed.channel)
        except UnknownChannel as exc:
            attempt.error = DeliveryError(str(exc), retryable=True)
            return attempt
        if connector.capabilities.manual_delivery:
            attempt.manual = True
            return attempt
        try:
            await self._send_parts(connector, attempt)
        except DeliveryError as exc:
            attempt.error = exc
        except Exception as exc:  # a bug or an unexpected library error: retry, keep the reason
            log.exception("unexpected delivery error outbox_id=%s", claimed.id)
            attempt.error = DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True)
        return attempt

    async def _send_parts(self, connector: Connector, attempt: _Attempt) -> None:
        claimed = attempt.claimed
        caps = connector.capabilities
        buttons = tuple(
            Button(str(b["title"]), str(b["payload"]))
            for b in claimed.content.get("buttons") or []
            if isinstance(b, dict)
        )
        whole = connector.render_buttons_as_text(
            OutboundMessage(
                channel=claimed.channel,
                account_ref=claimed.account_ref,
                thread_ref=claimed.thread_ref,
                user_ref=claimed.user_ref,
                text=claimed.text,
                buttons=buttons,
                reply_to_ref=str(claimed.content.get("reply_to") or "") or None,
                author=claimed.author,
                last_inbound_at=claimed.last_inbound_at,
                extra={"ticket_number": claimed.content.get("ticket_number")},
            )
        )
        parts = split_text(whole.text, caps.max_text_length, unit=caps.length_unit) or [""]
        bucket = self._bucket(connector)
        for index in range(claimed.parts_sent, len(parts)):
            last = index == len(parts) - 1
            await bucket.acquire()
            if not await self._keep_lease(attempt):
                log.warning("delivery lease lost while rate-limited outbox_id=%s; left to its new owner", claimed.id)
                attempt.lost = True
                return
            result = await connector.send(
                OutboundMessage(
                    channel=whole.channel,
                    account_ref=whole.account_ref,
                    thread_ref=whole.thread_ref,
                    user_ref=whole.user_ref,
                    text=parts[index],
                    buttons=whole.buttons if last else (),
                    reply_to_ref=whole.reply_to_ref if index == 0 else None,
                    delivery_id=f"outbox-{claimed.id}-{index}",
                    author=whole.author,
                    last_inbound_at=whole.last_inbound_at,
                    extra=whole.extra,
                )
            )
            attempt.parts_sent = index + 1
            if result.platform_message_id:
                attempt.platform_ids.append(result.platform_message_id)
            if not last:  # remember progress so a failure later resumes after this part
                await asyncio.to_thread(self._progress, claimed.id, attempt.parts_sent, attempt.platform_ids)

    async def _keep_lease(self, attempt: _Attempt) -> bool:
        """Renew the row's lease once half of it has gone by (a slow channel's token bucket can
        hold a claimed row longer than the lease); False if the row was taken over meanwhile."""
        if time.monotonic() - attempt.claimed_at < self.lease.total_seconds() / 2:
            return True
        renewed = await asyncio.to_thread(self._renew, attempt.claimed.id, attempt.claimed.attempts)
        if renewed:
            attempt.claimed_at = time.monotonic()
        return renewed

    @staticmethod
    def _record_health(session: Any, attempts: list[_Attempt]) -> None:
        by_channel: dict[str, list[_Attempt]] = {}
        for attempt in attempts:
            if not attempt.manual and not attempt.lost:
                by_channel.setdefault(attempt.claimed.channel, []).append(attempt)
        for channel, items in by_channel.items():
            errors = [a.error for a in items if a.error is not None]
            health.record(
                session,
                channel,
                sent=len(items) - len(errors),
                failed=len(errors),
                last_error=errors[-1].describe() if errors else None,
            )

    # --- database steps (run in threads) -----------------------------------------------------------

    def _claim(self, outbox_ids: list[int]) -> list[outbox.Claimed]:
        with self.db.session() as session:
            return outbox.claim_many(session, outbox_ids, lease=self.lease)

    def _renew(self, outbox_id: int, attempts: int) -> bool:
        with self.db.session() as session:
            return outbox.renew_lease(session, outbox_id, attempts, lease=self.lease)

    def _progress(self, outbox_id: int, parts_sent: int, platform_ids: list[str]) -> None:
        with self.db.session() as session:
            outbox.record_part_sent(session, outbox_id, parts_sent, platform_ids)

    def _record(self, attempts: list[_Attempt]) -> list[DeliveryOutcome]:
        outcomes: list[DeliveryOutcome] = []
        sent: list[outbox.Sent] = []
        with self.db.session() as session:
            for attempt in attempts:
                claimed = attempt.claimed
                if attempt.lost:
                    outcomes.append(DeliveryOutcome(claimed.id, "skipped"))
                elif attempt.manual:
                    outbox.mark_manual(session, claimed.id)
                    outcomes.append(DeliveryOutcome(claimed.id, "manual"))
                elif attempt.error is None:
                    sent.append(
                        outbox.Sent(claimed.id, claimed.conversation_id, attempt.parts_sent, attempt.platform_ids)
                    )
                    outcomes.append(DeliveryOutcome(claimed.id, "sent"))
                else:
                    if attempt.parts_sent > claimed.parts_sent:
                        outbox.record_part_sent(session, claimed.id, attempt.parts_sent, attempt.platform_ids)
                    status, delay = outbox.mark_failed(
                        session,
                        claimed.id,
                        attempt.error.describe(),
                        retryable=attempt.error.retryable,
                        policy=self.policy,
                        retry_after=attempt.error.retry_after,
                    )
                    log.warning(
                        "delivery failed outbox_id=%s channel=%s status=%s reason=%s",
                        claimed.id,
                        claimed.channel,
                        status.value,
                        attempt.error.describe(),
                    )
                    outcomes.append(DeliveryOutcome(claimed.id, status.value, delay))
            outbox.mark_sent_many(session, sent)
            self._record_health(session, attempts)
        for item in sent:
            log.info("delivered outbox_id=%s parts=%s", item.outbox_id, item.parts_sent)
        return outcomes
