"""The real hub as subprocesses (web, worker with beat) against fake platforms on loopback.

Used by the end-to-end tests, ``tawasul demo`` and ``bench/intake.py``: everything the hub does
here goes over real HTTP, a real database and a real broker.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors.portal import sign
from fakes.portal import FakePortal
from fakes.telegram import FakeTelegram


def new_secrets() -> dict[str, str]:
    """Fresh credentials for one local stack (never stored anywhere)."""
    import secrets as random

    return {
        "telegram_secret": random.token_hex(24),
        "telegram_token": f"7000000001:{random.token_urlsafe(30)}",
        "portal_secret": random.token_hex(32),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


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
        secrets = secrets or new_secrets()
        tmp.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp
        self.secrets = secrets
        self.telegram = FakeTelegram(secrets["telegram_token"]).start_in_thread()
        self.portal = FakePortal(secrets["portal_secret"]).start_in_thread()
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
        self.telegram.stop_thread()
        self.portal.stop_thread()

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
            headers = {**headers, "X-Tawasul-Signature": sign(self.secrets["portal_secret"], body)}
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
        return self.post("telegram", update, {"X-Telegram-Bot-Api-Secret-Token": self.secrets["telegram_secret"]})

    def tickets(self) -> list[dict[str, Any]]:
        result = self.cli("tickets", "--json")
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def telegram_texts(self) -> list[tuple[int, str]]:
        texts: list[tuple[int, str]] = self.telegram.call(lambda: [(m.chat_id, m.text) for m in self.telegram.sent])
        return texts
