"""Intake benchmark: webhook acknowledgement and end-to-end drain, as ratios to baselines in the same run.

(a) Ack: signed portal messages against our ``/webhooks/portal`` (verify, parse, group-committed
    inbox insert, enqueue off the request path) and against a bare aiohttp handler that only checks
    the same HMAC. Reports closed-loop throughput and latency, and latency at a fixed offered rate
    (open loop, measured from each request's scheduled start, so a stall counts against us).
(b) Drain: messages/s from the first webhook to the last reply written to the outbox, with real
    workers, in embedded mode (SQLite + SQLite broker) and on PostgreSQL + Redis with 2 worker
    processes; the baseline is the same load run through a no-op Celery task on the same broker.

Usage: ``python bench/intake.py [--quick] [--skip-production]``. PostgreSQL/Redis come from
``TAWASUL_TEST_DATABASE_URL`` / ``TAWASUL_TEST_REDIS_URL`` (defaults: this machine's servers).
The load generator runs in its own process; every figure is printed next to its baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fakes.stack import LocalStack, free_port, wait_for  # noqa: E402

ARABIC = [
    "السلام عليكم، صار لي ثلاث شهور ما نزلت مكافأة ولدي في الجامعة",
    "متى يفتح التسجيل في رياض الأطفال للعام الجاي؟",
    "ياليت تضيفون خاصية حفظ المسودة في منصة مدرستي",
    "ولدي عنده صعوبات تعلم تنصحوني بإيش؟",
    "باص المدرسة يتأخر كل يوم نص ساعة",
    "وش شروط معادلة الشهادة الجامعية من الخارج؟",
]


def bodies(secret: str, count: int, tag: str) -> list[tuple[bytes, str]]:
    out = []
    for i in range(count):
        payload = {
            "event_id": f"{tag}-{i}",
            "user": {"id": f"u-{tag}-{i % 500}", "name": "مستفيد", "language": "ar"},
            "text": ARABIC[i % len(ARABIC)] + f" ({i})",
        }
        body = json.dumps(payload, ensure_ascii=False).encode()
        out.append((body, "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()))
    return out


# --- load generator (runs in its own process) ------------------------------------------------------


async def _closed_loop(url: str, items: list[tuple[bytes, str]], concurrency: int) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    queue = list(reversed(items))

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while queue:
            body, sig = queue.pop()
            start = time.perf_counter()
            async with session.post(
                url, data=body, headers={"X-Tawasul-Signature": sig, "Content-Type": "application/json"}
            ) as r:
                await r.read()
                if r.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - start)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return {"rps": len(latencies) / elapsed, **_percentiles(latencies), "errors": errors, "n": len(latencies)}


async def _open_loop(url: str, items: list[tuple[bytes, str]], rate: float) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors = 0

    async def one(session: aiohttp.ClientSession, scheduled: float, body: bytes, sig: str) -> None:
        nonlocal errors
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        async with session.post(
            url, data=body, headers={"X-Tawasul-Signature": sig, "Content-Type": "application/json"}
        ) as r:
            await r.read()
            if r.status != 200:
                errors += 1
        latencies.append(time.perf_counter() - scheduled)  # from the scheduled start: no coordinated omission

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        t0 = time.perf_counter() + 0.2
        await asyncio.gather(*(one(session, t0 + i / rate, b, s) for i, (b, s) in enumerate(items)))
    return {"offered_rps": rate, **_percentiles(latencies), "errors": errors, "n": len(latencies)}


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "mean_ms": statistics.fmean(ordered) * 1000}


def _generator(mode: str, url: str, items: list[tuple[bytes, str]], arg: float, out: Any) -> None:
    coro = _closed_loop(url, items, int(arg)) if mode == "closed" else _open_loop(url, items, arg)
    out.put(asyncio.run(coro))


def generate(mode: str, url: str, items: list[tuple[bytes, str]], arg: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_generator, args=(mode, url, items, arg, out))
    proc.start()
    result = out.get(timeout=600)
    proc.join(30)
    return result  # type: ignore[no-any-return]


# --- (a) acknowledgement ----------------------------------------------------------------------------

BARE_HANDLER = """
import hashlib, hmac, os, sys
from aiohttp import web
secret = os.environ["SECRET"].encode()
async def handle(request):
    body = await request.read()
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get("X-Tawasul-Signature", ""), expected):
        return web.json_response({"error": "signature_invalid"}, status=403)
    return web.json_response({"ok": True})
app = web.Application(client_max_size=1024 * 1024)
app.router.add_post("/webhooks/portal", handle)
app.router.add_get("/healthz", lambda r: web.json_response({"ok": True}))
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def bench_ack(tmp: Path, *, database_url: str, broker_url: str, label: str, n: int, rate: float) -> dict[str, Any]:
    stack = LocalStack(tmp / label, database_url=database_url, broker_url=broker_url, model=tmp / "nlu.joblib")
    stack.prepare()
    stack.start_web()  # no worker: only the acknowledgement path is measured
    secret = stack.secrets["portal_secret"]
    port = free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE_HANDLER, str(port)], env={**os.environ, "SECRET": secret})
    try:
        wait_for(lambda: _up(f"http://127.0.0.1:{port}/healthz"), 20, "the bare handler")
        warm = bodies(secret, 300, f"warm-{uuid.uuid4().hex[:6]}")
        generate("closed", f"{stack.url}/webhooks/portal", warm, 16)
        generate("closed", f"http://127.0.0.1:{port}/webhooks/portal", warm, 16)
        results: dict[str, Any] = {}
        for name, url in (
            ("bare", f"http://127.0.0.1:{port}/webhooks/portal"),
            ("hub", f"{stack.url}/webhooks/portal"),
        ):
            results[name] = {
                "closed": generate("closed", url, bodies(secret, n, f"c-{name}-{uuid.uuid4().hex[:6]}"), 16),
                "open": generate("open", url, bodies(secret, int(rate * 6), f"o-{name}-{uuid.uuid4().hex[:6]}"), rate),
            }
        results["stored"] = _scalar(database_url, "SELECT count(*) FROM inbox")
        return results
    finally:
        bare.terminate()
        stack.stop()


# --- (b) drain --------------------------------------------------------------------------------------


def bench_drain(tmp: Path, *, database_url: str, broker_url: str, label: str, n: int, embedded: bool) -> dict[str, Any]:
    stack = LocalStack(tmp / label, database_url=database_url, broker_url=broker_url, model=tmp / "nlu.joblib")
    stack.env["TAWASUL_QUEUE_PREFIX"] = f"b{uuid.uuid4().hex[:8]}"
    stack.env["TAWASUL_LOG_LEVEL"] = "WARNING"
    stack.env["TAWASUL_WORKER_CONCURRENCY"] = "2"
    stack.prepare()
    stack.start_web(embedded_worker=embedded)
    if not embedded:
        stack.start_worker()
    try:
        secret = stack.secrets["portal_secret"]
        warm = bodies(secret, 40, f"warm-{uuid.uuid4().hex[:6]}")
        generate("closed", f"{stack.url}/webhooks/portal", warm, 8)
        wait_for(lambda: _done(database_url) >= 40, 120, "warm-up processed", interval=0.2)
        base_done = _done(database_url)
        items = bodies(secret, n, f"d-{uuid.uuid4().hex[:6]}")
        t0 = time.perf_counter()
        ack = generate("closed", f"{stack.url}/webhooks/portal", items, 16)
        t_ack = time.perf_counter() - t0
        wait_for(lambda: _done(database_url) >= base_done + n, 900, "the drain", interval=0.1)
        elapsed = time.perf_counter() - t0
        replies = _scalar(database_url, "SELECT count(*) FROM outbox")
        return {
            "messages": n,
            "drain_s": elapsed,
            "drain_rate": n / elapsed,
            "ack_s": t_ack,
            "ack_rps": ack["rps"],
            "outbox_rows": replies,
        }
    finally:
        stack.stop()


NOOP_WORKER = """
import os, sys, time
from celery import Celery
app = Celery("noop", broker=os.environ["BROKER"])
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=2, task_ignore_result=True, worker_hijack_root_logger=False)
if os.environ["BROKER"].startswith("sqla+"):
    from kombu.transport import sqlalchemy as t
    t.Transport.polling_interval = 0.1
@app.task(name="noop")
def noop(ids):
    with open(os.environ["OUT"], "a") as f:
        f.write("%d %f\\n" % (len(ids), time.time()))
if __name__ == "__main__":
    if sys.argv[1] == "worker":
        app.worker_main(["worker", "-c", "2", "--loglevel", "WARNING", "-Q", os.environ["QUEUE"], "--without-gossip", "--without-mingle"])
    else:
        n = int(sys.argv[2])
        for i in range(0, n, 20):
            app.send_task("noop", args=[list(range(i, min(n, i + 20)))], queue=os.environ["QUEUE"])
"""


def bench_noop_baseline(tmp: Path, *, broker_url: str, n: int) -> dict[str, Any]:
    """The same message count through a no-op task on the same broker: the queue's own ceiling."""
    out = tmp / f"noop-{uuid.uuid4().hex[:6]}.txt"
    script = tmp / "noop_celery.py"
    script.write_text(NOOP_WORKER)
    env = {**os.environ, "BROKER": broker_url, "OUT": str(out), "QUEUE": f"noop{uuid.uuid4().hex[:6]}"}
    worker = subprocess.Popen([sys.executable, str(script), "worker"], env=env, cwd=tmp)
    try:
        time.sleep(4)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(script), "send", str(n)], env=env, cwd=tmp, check=True)
        wait_for(
            lambda: out.exists() and sum(int(line.split()[0]) for line in out.read_text().splitlines()) >= n,
            300,
            "no-op drain",
        )
        elapsed = time.perf_counter() - t0
        return {"messages": n, "drain_s": elapsed, "drain_rate": n / elapsed}
    finally:
        worker.terminate()
        worker.wait(20)


# --- helpers ----------------------------------------------------------------------------------------


def _up(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def _scalar(database_url: str, sql: str) -> int:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def _done(database_url: str) -> int:
    return _scalar(database_url, "SELECT count(*) FROM inbox WHERE status = 'done'")


def _fresh_pg(admin_url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"tawasul_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(make_url(admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return str(make_url(admin_url).set(database=name))


def _train(model: Path) -> None:
    import nlu

    nlu.configure(model_path=model)
    nlu.analyse("تجربة")


@dataclass
class Run:
    """One benchmark run: where it writes, what it measures, and what it found."""

    tmp: Path
    args: argparse.Namespace
    pg_admin: str
    redis: str
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def n_ack(self) -> int:
        return 2000 if self.args.quick else 6000

    @property
    def n_drain(self) -> int:
        return 600 if self.args.quick else 3000

    def sqlite(self, label: str) -> str:
        return f"sqlite:///{self.tmp / label / 'hub.db'}"

    def embedded_broker(self, label: str) -> str:
        return f"sqla+sqlite:///{self.tmp / label / 'broker.sqlite'}"

    def ack(self) -> None:
        print("(a) acknowledgement, embedded (SQLite) …", flush=True)
        self.report["ack_embedded"] = bench_ack(
            self.tmp,
            database_url=self.sqlite("ack-e"),
            broker_url=self.embedded_broker("ack-e"),
            label="ack-e",
            n=self.n_ack,
            rate=self.args.rate,
        )
        _print_ack("embedded (SQLite + SQLite broker)", self.report["ack_embedded"])
        if not self.args.skip_production:
            print("(a) acknowledgement, PostgreSQL + Redis …", flush=True)
            self.report["ack_pg_redis"] = bench_ack(
                self.tmp,
                database_url=_fresh_pg(self.pg_admin),
                broker_url=self.redis,
                label="ack-p",
                n=self.n_ack,
                rate=self.args.rate,
            )
            _print_ack("PostgreSQL + Redis", self.report["ack_pg_redis"])

    def drain(self) -> None:
        print("(b) drain, embedded …", flush=True)
        self.report["drain_embedded"] = bench_drain(
            self.tmp,
            database_url=self.sqlite("drain-e"),
            broker_url=self.embedded_broker("drain-e"),
            label="drain-e",
            n=self.n_drain,
            embedded=True,
        )
        self.report["noop_embedded"] = bench_noop_baseline(
            self.tmp, broker_url=f"sqla+sqlite:///{self.tmp / 'noop-broker.sqlite'}", n=self.n_drain
        )
        _print_drain("embedded", self.report["drain_embedded"], self.report["noop_embedded"])
        if not self.args.skip_production:
            print("(b) drain, PostgreSQL + Redis, 2 worker processes …", flush=True)
            self.report["drain_pg_redis"] = bench_drain(
                self.tmp,
                database_url=_fresh_pg(self.pg_admin),
                broker_url=self.redis,
                label="drain-p",
                n=self.n_drain,
                embedded=False,
            )
            self.report["noop_redis"] = bench_noop_baseline(self.tmp, broker_url=self.redis, n=self.n_drain)
            _print_drain("PostgreSQL + Redis", self.report["drain_pg_redis"], self.report["noop_redis"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    parser.add_argument("--skip-production", action="store_true", help="embedded mode only")
    parser.add_argument("--rate", type=float, default=500.0, help="offered rate for the open-loop latency run")
    parser.add_argument("--parts", default="ack,drain", help="comma-separated: ack, drain")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tawasul-bench-") as name:
        run = Run(
            Path(name),
            args,
            os.environ.get("TAWASUL_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
            os.environ.get("TAWASUL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
            {"cpus": os.cpu_count()},
        )
        _train(run.tmp / "nlu.joblib")
        parts = set(args.parts.split(","))
        if "ack" in parts:
            run.ack()
        if "drain" in parts:
            run.drain()
        out = REPO / "var" / "bench-intake.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(run.report, indent=2))
        print(f"\nraw figures: {out}")


def _print_ack(label: str, r: dict[str, Any]) -> None:
    hub, bare = r["hub"], r["bare"]
    print(f"  {label}")
    print(
        f"    closed loop (16 connections): hub {hub['closed']['rps']:.0f} req/s vs bare {bare['closed']['rps']:.0f} req/s "
        f"= {hub['closed']['rps'] / bare['closed']['rps']:.0%} of bare; p50 {hub['closed']['p50_ms']:.1f} / p99 {hub['closed']['p99_ms']:.1f} ms "
        f"(bare {bare['closed']['p50_ms']:.1f} / {bare['closed']['p99_ms']:.1f}); errors {hub['closed']['errors']}"
    )
    print(
        f"    open loop at {hub['open']['offered_rps']:.0f} req/s offered: hub p50 {hub['open']['p50_ms']:.1f} / p99 {hub['open']['p99_ms']:.1f} ms "
        f"(bare {bare['open']['p50_ms']:.1f} / {bare['open']['p99_ms']:.1f}); p99 ratio {hub['open']['p99_ms'] / bare['open']['p99_ms']:.1f}x; "
        f"errors {hub['open']['errors']}; inbox rows {r['stored']}"
    )


def _print_drain(label: str, r: dict[str, Any], base: dict[str, Any]) -> None:
    print(
        f"  {label}: {r['messages']} messages drained in {r['drain_s']:.1f} s = {r['drain_rate']:.0f} msg/s "
        f"(ack phase {r['ack_rps']:.0f} req/s); no-op task baseline {base['drain_rate']:.0f} msg/s "
        f"-> {r['drain_rate'] / base['drain_rate']:.0%} of the queue's own ceiling; outbox rows {r['outbox_rows']}"
    )


if __name__ == "__main__":
    main()
