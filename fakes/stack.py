"""The real hub as subprocesses (web, worker with beat) against fake platforms on loopback.

Used by the end-to-end tests, ``tawasul demo`` and ``bench/intake.py``: everything the hub does
here goes over real HTTP, a real database and a real broker.

``LocalStack`` starts a local fake of every platform (Telegram Bot API, the portal's callback,
Meta's Graph API for Messenger/Instagram/WhatsApp, the X API, the Bot Framework's login, keys and
Bot Connector) in threads, generates fresh credentials for each, and gives the hub an environment in
which every channel is enabled and pointed at its fake (Snapchat as the assisted channel, with a
relay secret). ``signed_message`` / ``post_channel`` build and send a realistic, correctly signed
inbound message on any channel; ``received`` reads what the fakes were sent back.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import secrets as _secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.portal import sign
from connectors.snapchat import sign as snapchat_sign
from fakes.botframework import FakeBotFramework
from fakes.meta import FakeMetaGraph
from fakes.portal import FakePortal, portal_message
from fakes.telegram import FakeTelegram, telegram_update
from fakes.twitter import FakeX, aaa_dm, aaa_mention, signed_webhook, xaa_dm, xaa_mention

#: Every channel the hub serves, in the order the demo and the benchmark show them.
CHANNELS: tuple[str, ...] = (
    "telegram",
    "portal",
    "facebook",
    "instagram",
    "whatsapp",
    "twitter",
    "skype",
    "msteams",
    "webchat",
    "snapchat",
)
BOTFRAMEWORK_CHANNELS = ("skype", "msteams", "webchat")
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SIGNATURE_HEADER = "X-Tawasul-Signature"  # portal and Snapchat relay


def new_secrets() -> dict[str, str]:
    """Fresh credentials for one local stack, every channel (never stored anywhere)."""
    x_user = str(1_460_000_000_000_000_000 + _secrets.randbelow(10**15))
    return {
        "telegram_secret": _secrets.token_hex(24),
        "telegram_token": f"7000000001:{_secrets.token_urlsafe(30)}",
        "portal_secret": _secrets.token_hex(32),
        "meta_app_secret": _secrets.token_hex(16),
        "meta_verify_token": _secrets.token_urlsafe(18),
        "facebook_page_token": "EAAG" + _secrets.token_urlsafe(48),
        "instagram_token": "IGAA" + _secrets.token_urlsafe(48),
        "whatsapp_token": "EAAW" + _secrets.token_urlsafe(48),
        "twitter_consumer_key": _secrets.token_urlsafe(18),
        "twitter_consumer_secret": _secrets.token_urlsafe(37),
        "twitter_user_id": x_user,
        "twitter_access_token": f"{x_user}-{_secrets.token_urlsafe(30)}",
        "twitter_access_secret": _secrets.token_urlsafe(33),
        "botframework_app_id": str(uuid.uuid4()),
        "botframework_app_password": _secrets.token_urlsafe(30),
        "snapchat_relay_secret": _secrets.token_hex(32),
    }


_PORT_BLOCK = 1500


def free_port() -> int:
    """A free loopback port for a server that another process will bind.

    Chosen outside the kernel's ephemeral range (32768+), in a block of its own per pytest-xdist
    worker: a port released here cannot then be taken by another test's bind(0) or outgoing
    connection, or by a parallel worker, before the hub binds it.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    block = int(worker[2:]) % 8 if worker[2:].isdigit() else 8
    base = 18000 + block * _PORT_BLOCK
    start = random.randrange(_PORT_BLOCK)
    for k in range(_PORT_BLOCK):
        port = base + (start + k) % _PORT_BLOCK
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {base}-{base + _PORT_BLOCK - 1}")


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass(frozen=True)
class SignedWebhook:
    """One inbound delivery as the platform would POST it to ``/webhooks/{channel}``."""

    channel: str
    body: bytes
    headers: dict[str, str]
    user: str  # the citizen's name as given
    address: str  # where the platform sends our reply: chat id, PSID, wa_id, X user id, conversation id …
    post_id: str | None = None  # an X @mention: the public post our neutral reply answers


@dataclass(frozen=True)
class Received:
    """One message a fake platform accepted from the hub."""

    channel: str
    address: str
    text: str
    kind: str = "message"  # message | callback | dm | public reply | text | interactive | template
    user: str | None = None  # the citizen's name, when the stack posted for them


class LocalStack:
    def __init__(
        self,
        tmp: Path,
        *,
        database_url: str,
        broker_url: str,
        secrets: dict[str, str] | None = None,
        model: Path | None = None,
    ) -> None:
        # Callers may pass only some credentials (the e2e fixtures pass Telegram's and the portal's).
        secrets = {**new_secrets(), **(secrets or {})}
        tmp.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp
        self.secrets = secrets
        self.telegram = FakeTelegram(secrets["telegram_token"]).start_in_thread()
        self.portal = FakePortal(secrets["portal_secret"]).start_in_thread()
        self.meta = FakeMetaGraph(
            secrets["meta_app_secret"],
            page_token=secrets["facebook_page_token"],
            instagram_token=secrets["instagram_token"],
            whatsapp_token=secrets["whatsapp_token"],
        ).start_in_thread()
        self.twitter = FakeX(
            consumer_key=secrets["twitter_consumer_key"],
            consumer_secret=secrets["twitter_consumer_secret"],
            access_token=secrets["twitter_access_token"],
            access_secret=secrets["twitter_access_secret"],
            user_id=secrets["twitter_user_id"],
        ).start_in_thread()
        self.botframework = FakeBotFramework(
            secrets["botframework_app_id"], secrets["botframework_app_password"]
        ).start_in_thread()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TAWASUL_")},
            "TAWASUL_VAR_DIR": str(tmp / "var"),
            "TAWASUL_DATABASE_URL": database_url,
            "TAWASUL_BROKER_URL": broker_url,
            "TAWASUL_PORT": str(self.port),
            "TAWASUL_TELEGRAM_SECRET_TOKEN": secrets["telegram_secret"],
            "TAWASUL_TELEGRAM_BOT_TOKEN": secrets["telegram_token"],
            "TAWASUL_TELEGRAM_API_BASE": f"{self.telegram.url}/bot",
            "TAWASUL_PORTAL_SECRET": secrets["portal_secret"],
            "TAWASUL_PORTAL_CALLBACK_URL": self.portal.callback_url,
            "TAWASUL_META_APP_SECRET": secrets["meta_app_secret"],
            "TAWASUL_META_VERIFY_TOKEN": secrets["meta_verify_token"],
            "TAWASUL_META_API_BASE": self.meta.api_base,
            "TAWASUL_FACEBOOK_PAGE_TOKEN": secrets["facebook_page_token"],
            "TAWASUL_INSTAGRAM_TOKEN": secrets["instagram_token"],
            "TAWASUL_WHATSAPP_TOKEN": secrets["whatsapp_token"],
            "TAWASUL_WHATSAPP_PHONE_NUMBER_ID": self.meta.phone_number_id,
            "TAWASUL_TWITTER_CONSUMER_KEY": secrets["twitter_consumer_key"],
            "TAWASUL_TWITTER_CONSUMER_SECRET": secrets["twitter_consumer_secret"],
            "TAWASUL_TWITTER_ACCESS_TOKEN": secrets["twitter_access_token"],
            "TAWASUL_TWITTER_ACCESS_SECRET": secrets["twitter_access_secret"],
            "TAWASUL_TWITTER_USER_ID": secrets["twitter_user_id"],
            "TAWASUL_TWITTER_API_BASE": self.twitter.url,
            "TAWASUL_BOTFRAMEWORK_APP_ID": secrets["botframework_app_id"],
            "TAWASUL_BOTFRAMEWORK_APP_PASSWORD": secrets["botframework_app_password"],
            "TAWASUL_BOTFRAMEWORK_OPENID_URL": self.botframework.openid_url,
            "TAWASUL_BOTFRAMEWORK_TOKEN_URL": self.botframework.token_url,
            "TAWASUL_SNAPCHAT_ENABLED": "true",
            "TAWASUL_SNAPCHAT_RELAY_SECRET": secrets["snapchat_relay_secret"],
            **({"TAWASUL_NLU_MODEL_PATH": str(model)} if model else {}),
            "TAWASUL_SWEEP_INTERVAL_S": "1",
            "TAWASUL_INBOX_STALE_AFTER_S": "2",
            "TAWASUL_OUTBOX_BACKOFF_BASE_S": "0.3",
            "TAWASUL_OUTBOX_BACKOFF_MAX_S": "2",
            "TAWASUL_WORKER_CONCURRENCY": "2",
        }
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self._logs: list[Path] = []
        # Citizens the stack has written for: (channel, name) -> platform ids, and the way back.
        self._people: dict[tuple[str, str], dict[str, str]] = {}
        self._names: dict[tuple[str, str], str] = {}
        self._serial = itertools.count(1)

    # --- processes -------------------------------------------------------------------------------

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hub.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{name}-{len(self._logs)}.log"
        self._logs.append(log)
        handle = log.open("wb")
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", *args],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def prepare(self) -> None:
        for step in (("migrate",), ("seed",)):
            result = self.cli(*step)
            assert result.returncode == 0, result.stderr

    def boot(self, *, embedded_worker: bool = False) -> None:
        """``prepare()`` then ``start_web()``, sooner: the web process starts while the seed runs
        (nothing is posted before both are done)."""
        result = self.cli("migrate")
        assert result.returncode == 0, result.stderr
        self.web = self._spawn("web", "serve", "--worker" if embedded_worker else "--no-worker")
        result = self.cli("seed")
        assert result.returncode == 0, result.stderr
        wait_for(self._ready, 60, "the hub to become ready")

    def start_web(self, *, embedded_worker: bool = False) -> None:
        self.web = self._spawn("web", "serve", "--worker" if embedded_worker else "--no-worker")
        wait_for(self._ready, 60, "the hub to become ready")

    def start_worker(self) -> None:
        self.worker = self._spawn("worker", "worker", "--beat")

    def kill_worker(self) -> None:
        """SIGKILL the worker and all its children: no cleanup, no acks."""
        assert self.worker is not None
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(10)
        self.worker = None

    def stop(self, grace: float = 5.0) -> None:
        for proc in (self.worker, self.web):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(grace)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
        for fake in (self.telegram, self.portal, self.meta, self.twitter, self.botframework):
            fake.stop_thread()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self._logs if p.exists())

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    # --- citizens ----------------------------------------------------------------------------------

    def post(self, channel: str, payload: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        body = json.dumps(payload, ensure_ascii=False).encode()
        if channel == "portal":
            headers = {**headers, SIGNATURE_HEADER: sign(self.secrets["portal_secret"], body)}
        return self.post_raw(channel, body, headers)

    def post_raw(self, channel: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """POST exactly these bytes to ``/webhooks/{channel}`` (signatures are over the raw body)."""
        request = urllib.request.Request(
            f"{self.url}/webhooks/{channel}",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def post_telegram(self, update: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return self.post("telegram", update, {TELEGRAM_SECRET_HEADER: self.secrets["telegram_secret"]})

    def post_channel(self, channel: str, user: str, text: str, **options: Any) -> tuple[int, dict[str, Any]]:
        """Send ``text`` from citizen ``user`` on ``channel`` as that platform would: its payload shape,
        its signature or token, the raw bytes it signs. See ``signed_message`` for the options."""
        call = self.signed_message(channel, user, text, **options)
        return self.post_raw(call.channel, call.body, call.headers)

    def signed_message(
        self, channel: str, user: str, text: str, *, mention: bool = False, api: str = "aaa", language: str = "ar"
    ) -> SignedWebhook:
        """A realistic, correctly signed inbound text message from ``user`` (a name) on ``channel``.

        The same name on the same channel is the same platform user (same chat, PSID, conversation …).
        ``mention`` (X only) makes it a public post that @mentions the service account instead of a
        DM; ``api`` picks X's Account Activity (``"aaa"``) or X Activity (``"xaa"``) delivery shape.
        Building it also tells the fake platform what a real one would know: Meta's fake opens the
        citizen's 24-hour window, X's fake registers the mention so the hub may reply to it."""
        n = next(self._serial)
        ids = self._person(channel, user)
        if channel == "telegram":
            chat = int(ids["chat"])
            body = _json(telegram_update(880_000_000 + n, chat, text, first_name=user, language_code=language))
            return SignedWebhook(
                channel, body, {TELEGRAM_SECRET_HEADER: self.secrets["telegram_secret"]}, user, ids["chat"]
            )
        if channel == "portal":
            payload = portal_message(f"portal-{uuid.uuid4().hex[:16]}", ids["user"], text, name=user, language=language)
            body = _json(payload)
            return SignedWebhook(
                channel, body, {SIGNATURE_HEADER: sign(self.secrets["portal_secret"], body)}, user, ids["user"]
            )
        if channel in ("facebook", "instagram", "whatsapp"):
            meta = self.meta
            if channel == "facebook":
                call = meta.call(lambda: meta.messenger_message(ids["user"], text))
            elif channel == "instagram":
                call = meta.call(lambda: meta.instagram_message(ids["user"], text))
            else:
                call = meta.call(lambda: meta.whatsapp_message(ids["user"], text, name=user))
            return SignedWebhook(channel, call.body, dict(call.headers), user, ids["user"])
        if channel == "twitter":
            return self._twitter_message(ids, user, text, n, mention=mention, api=api)
        if channel in BOTFRAMEWORK_CHANNELS:
            bf = self.botframework
            locale = "en-US" if language == "en" else "ar-SA"
            activity = bf.call(
                lambda: bf.activity(
                    channel,
                    text,
                    conversation_id=ids.get("conversation"),
                    user_id=ids.get("user"),
                    user_name=user,
                    locale=locale,
                )
            )
            if "conversation" not in ids:  # the fake made this citizen's ids: keep them for next time
                ids["conversation"] = activity["conversation"]["id"]
                ids["user"] = activity["from"]["id"]
                self._names[(channel, ids["conversation"])] = user
            body, headers = bf.call(lambda: bf.signed(activity))
            return SignedWebhook(channel, body, headers, user, ids["conversation"])
        if channel == "snapchat":
            now = datetime.now(UTC)
            payload = {
                "event_id": f"snap-relay-{uuid.uuid4().hex[:12]}",
                "timestamp": int(now.timestamp()),
                "user": {"id": ids["user"], "display_name": user},
                "direction": "inbound",
                "text": text,
                "sent_at": now.isoformat().replace("+00:00", "Z"),
            }
            body = _json(payload)
            secret = self.secrets["snapchat_relay_secret"]
            return SignedWebhook(channel, body, {SIGNATURE_HEADER: snapchat_sign(secret, body)}, user, ids["user"])
        raise ValueError(f"no such channel {channel!r} (known: {', '.join(CHANNELS)})")

    def _twitter_message(
        self, ids: dict[str, str], user: str, text: str, n: int, *, mention: bool, api: str
    ) -> SignedWebhook:
        x = self.twitter
        account, author = self.secrets["twitter_user_id"], ids["user"]
        handle = ids["handle"]
        event_id = str(2_100_000_000_000_000_000 + n * 1000 + _secrets.randbelow(1000))
        if mention:
            x.call(x.register_mention, event_id, author)  # a post that mentions us: X lets us reply to it
            self._names[("twitter", event_id)] = user  # our public reply is addressed to the post
            if api == "xaa":
                payload = xaa_mention(account, event_id, author, text, username=handle, name=user)
            else:
                payload = aaa_mention(account, event_id, author, text, name=user, screen_name=handle)
        elif api == "xaa":
            payload = xaa_dm(account, event_id, author, text, name=user, username=handle)
        else:
            payload = aaa_dm(account, event_id, author, text, name=user, screen_name=handle)
        body, headers = signed_webhook(self.secrets["twitter_consumer_secret"], payload)
        return SignedWebhook("twitter", body, headers, user, author, event_id if mention else None)

    def _person(self, channel: str, user: str) -> dict[str, str]:
        """Stable platform ids for citizen ``user`` on ``channel``."""
        key = (channel, user)
        if key not in self._people:
            n = len(self._people) + 1
            ids: dict[str, str] = {
                "telegram": {"chat": str(5_550_100 + n)},
                "portal": {"user": f"u-{100 + n}"},
                "facebook": {"user": str(24_000_000_000_000_000 + n * 7919)},
                "instagram": {"user": str(178_000_000_000_000_000 + n * 7919)},
                "whatsapp": {"user": f"96650{n * 7919:07d}"},
                "twitter": {"user": str(1_580_000_000_000_000_000 + n * 7919), "handle": f"citizen{n}"},
                "snapchat": {"user": f"snap:citizen.{n}"},
            }.get(channel, {})
            self._people[key] = ids
            address = ids.get("chat") or ids.get("user")
            if address:
                self._names[(channel, address)] = user
        return self._people[key]

    def name_of(self, channel: str, address: str) -> str | None:
        """The citizen's name for a platform address the stack made up (None for others)."""
        return self._names.get((channel, address))

    # --- what the hub did ----------------------------------------------------------------------------

    def tickets(self) -> list[dict[str, Any]]:
        result = self.cli("tickets", "--json")
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def ticket_rows(self) -> list[dict[str, Any]]:
        """The rows ``tawasul tickets --json`` prints, read in this process (no CLI start-up)."""
        from ticket_core import queries
        from ticket_core.db import Database

        db = Database(self.database_url)
        try:
            with db.read_session() as session:
                return queries.ticket_rows(session)
        finally:
            db.dispose()

    def outbox(self) -> list[dict[str, Any]]:
        """Every outbound message, oldest first: id, channel, status (sent, manual, dead …), ticket
        number, the citizen's ``user_ref``, text and last error. Read straight from the database,
        so it is cheap enough to poll."""
        return self.query(
            "SELECT o.id, o.channel, o.status, t.number AS ticket, o.user_ref, o.thread_ref, o.text, o.last_error "
            "FROM outbox o LEFT JOIN tickets t ON t.id = o.ticket_id ORDER BY o.id"
        )

    def outbox_states(self) -> dict[str, dict[str, int]]:
        """channel -> outbox status -> count."""
        states: dict[str, dict[str, int]] = {}
        for row in self.query("SELECT channel, status, count(*) AS n FROM outbox GROUP BY channel, status"):
            states.setdefault(str(row["channel"]), {})[str(row["status"]).lower()] = int(row["n"])
        return states

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of ``sql`` on the hub's database, as dicts (a ``status`` column is lower-cased)."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                rows = [dict(row._mapping) for row in conn.execute(text(sql))]
        finally:
            engine.dispose()
        for row in rows:
            if "status" in row:
                row["status"] = str(row["status"]).lower()
        return rows

    def telegram_texts(self) -> list[tuple[int, str]]:
        texts: list[tuple[int, str]] = self.telegram.call(lambda: [(m.chat_id, m.text) for m in self.telegram.sent])
        return texts

    def received(self, channel: str | None = None) -> list[Received]:
        """What the fake platforms accepted from the hub (all channels, or one), in arrival order
        per platform. Snapchat has no platform: its replies wait in the outbox as manual items."""
        found: list[Received] = []
        found += [Received("telegram", str(chat), text) for chat, text in self.telegram_texts()]
        found += [
            Received("portal", str(d["user_id"]), str(d["text"]), "callback")
            for d in self.portal.call(lambda: list(self.portal.deliveries))
        ]
        found += [
            Received(m.channel, m.recipient, m.text, m.kind) for m in self.meta.call(lambda: list(self.meta.sent))
        ]
        dms, posts = self.twitter.call(lambda: (list(self.twitter.dms), list(self.twitter.posts)))
        found += [Received("twitter", dm.recipient_id, dm.text, "dm") for dm in dms]
        found += [
            Received("twitter", p.in_reply_to or "", p.text, "public reply" if p.in_reply_to else "post") for p in posts
        ]
        for d in self.botframework.call(lambda: list(self.botframework.deliveries)):
            owner = next((c for c in BOTFRAMEWORK_CHANNELS if (c, d.conversation_id) in self._names), "skype")
            found.append(Received(owner, d.conversation_id, d.text))
        named = [
            Received(r.channel, r.address, r.text, r.kind, self.name_of(r.channel, r.address))
            for r in found
            if channel is None or r.channel == channel
        ]
        return named


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")
