"""Per-process wiring: settings -> database, connectors, NLU, pipeline, delivery.

Each process (web, every worker child, CLI) builds its own ``Runtime`` lazily, after any fork, so no
database connection or event loop is shared across processes.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from bots.faq import FaqBook, FaqMatch
from bots.safety import load_support_lines
from bots.templates import ReplyBook, load_reply_book
from connectors.registry import ConnectorRegistry
from hub.config import Settings, get_settings
from hub.delivery import DeliveryService
from router.intake import IntakePipeline, IntakeSettings
from router.routing import Router, RoutingTable
from ticket_core import outbox
from ticket_core.actions import Context
from ticket_core.calendar import BusinessCalendar, load_calendar
from ticket_core.db import Database
from ticket_core.escalation import Ladder
from ticket_core.org import OrgTree, read_org_file
from ticket_core.sla import SlaPolicy

T = TypeVar("T")


_nlu_configured: tuple[object, ...] | None = None


def configure_nlu(settings: Settings) -> None:
    """Point the NLU at this hub's model and backend. Idempotent, so a worker child forked after
    the parent loaded the model keeps that copy instead of loading its own."""
    import nlu

    global _nlu_configured
    wanted = (
        settings.nlu_model_path,
        settings.nlu_backend,
        settings.rasa_url,
        settings.rasa_timeout_s,
        settings.nlu_threshold,
        settings.langid_backend,
    )
    if wanted == _nlu_configured:
        return
    nlu.configure(
        model_path=settings.nlu_model_path,
        backend=settings.nlu_backend,
        rasa_url=settings.rasa_url,
        rasa_timeout=settings.rasa_timeout_s,
        threshold=settings.nlu_threshold,
        langid_backend=settings.langid_backend,
    )
    _nlu_configured = wanted


class Runtime:
    """Everything one process needs, built on first use."""

    def __init__(
        self, settings: Settings, *, db: Database | None = None, registry: ConnectorRegistry | None = None
    ) -> None:
        self.settings = settings
        self.db = db or Database(settings.database_url)
        self.registry = registry or ConnectorRegistry.from_settings(settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self._org: tuple[float, OrgTree] | None = None

    @functools.cached_property
    def calendar(self) -> BusinessCalendar:
        return load_calendar(self.settings.data_dir / "calendar.yml")

    @functools.cached_property
    def policy(self) -> SlaPolicy:
        return SlaPolicy.from_file(self.settings.data_dir / "sla.yml", first_answer_days=self.settings.sla_working_days)

    def org(self) -> OrgTree:
        """The unit tree, re-read at most once a minute (it changes only when `tawasul seed` runs)."""
        now = time.monotonic()
        if self._org is None or now - self._org[0] > 60:
            with self.db.read_session() as session:
                self._org = (now, OrgTree.load(session))
        return self._org[1]

    def actions(self) -> Context:
        """Calendar, SLA policy and escalation ladder for ticket actions."""
        return Context(self.calendar, self.policy, Ladder(self.org()))

    @functools.cached_property
    def replies(self) -> ReplyBook:
        return load_reply_book(self.settings.data_dir / "templates.yml", self.settings.timezone)

    @functools.cached_property
    def pipeline(self) -> IntakePipeline:
        import nlu

        configure_nlu(self.settings)
        return IntakePipeline(
            self.db,
            analyse_many=nlu.analyse_many,
            replies=self.replies,
            calendar=self.calendar,
            router=self.router,
            context=self.actions,
            safety=load_support_lines(self.settings.data_dir / "support_lines.yml"),
            faq=self.faq_lookup,
            settings=IntakeSettings(
                working_days=self.settings.sla_working_days,
                max_attempts=self.settings.intake_max_attempts,
                # SQLite has one writer: shorter transactions let webhooks in between.
                rows_per_transaction=5 if self.db.is_sqlite else 20,
            ),
        )

    @functools.cached_property
    def faq(self) -> FaqBook:
        return FaqBook.from_file(self.settings.data_dir / "faq.yml")

    def faq_lookup(self, text: str, language: str) -> FaqMatch | None:
        return self.faq.match(text, language=language)

    @functools.cached_property
    def router(self) -> Router:
        data = self.settings.data_dir
        unit_keys = [node["key"] for node, _ in read_org_file(data / "org.yml")]
        table = RoutingTable.from_files(data / "routing.yml", data / "services.yml", unit_keys)
        return Router(table, self.org)

    @functools.cached_property
    def retry_policy(self) -> outbox.RetryPolicy:
        s = self.settings
        return outbox.RetryPolicy(s.outbox_max_attempts, s.outbox_backoff_base_s, s.outbox_backoff_max_s)

    @functools.cached_property
    def delivery(self) -> DeliveryService:
        s = self.settings
        return DeliveryService(
            self.db,
            self.registry,
            policy=self.retry_policy,
            lease=timedelta(seconds=s.outbox_lease_s),
            rates={
                "telegram": s.telegram_rate_per_s,
                "portal": s.portal_rate_per_s,
                "facebook": s.facebook_rate_per_s,
                "instagram": s.instagram_rate_per_s,
                "whatsapp": s.whatsapp_rate_per_s,
                "twitter": s.twitter_rate_per_s,
                "skype": s.botframework_rate_per_s,
            },
        )

    # --- a private event loop for async work called from synchronous code (Celery tasks) -------

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on this process's background loop and wait for the result."""
        return asyncio.run_coroutine_threadsafe(coro, self.background_loop()).result(timeout)

    def background_loop(self) -> asyncio.AbstractEventLoop:
        """This process's event loop for async work (started on first use, in its own thread)."""
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="tawasul-async", daemon=True).start()
                self._loop = loop
            return self._loop

    def close(self) -> None:
        if self._loop is not None:
            self.run(self.registry.aclose(), timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None
        self.db.dispose()


_runtime: Runtime | None = None
_runtime_pid: int | None = None


def get_runtime() -> Runtime:
    """This process's runtime (rebuilt in a forked child)."""
    global _runtime, _runtime_pid
    if _runtime is None or _runtime_pid != os.getpid():
        _runtime = Runtime(get_settings())
        _runtime_pid = os.getpid()
    return _runtime
