"""In-process intake pipeline benchmark: how fast one worker turns stored rows into tickets and replies.

For each database (SQLite always; PostgreSQL when ``TAWASUL_TEST_DATABASE_URL`` or this machine's
server answers) it stores N realistic Arabic/English messages from N new citizens and runs
``IntakePipeline.process_many`` over them in batches, as a worker does. Printed next to it, from the
same run on the same database:

- *floor*: the least any pipeline must do per row: claim the rows and mark them done, one
  transaction per chunk (the same chunk size). ``ratio`` = pipeline msg/s / floor msg/s.
- *NLU only*: ``nlu.analyse`` over the same texts (the CPU part of the pipeline).
- statements per message, counted on the engine (machine-independent, unlike times on a noisy box).

Usage: ``python bench/pipeline.py [--messages 600] [--batch 100] [--only sqlite|postgresql]``.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, event, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import nlu  # noqa: E402
from connectors.base import EventKind, InboundEvent  # noqa: E402
from hub.config import load_settings  # noqa: E402
from hub.runtime import Runtime  # noqa: E402
from ticket_core import inbox  # noqa: E402
from ticket_core.db import Database  # noqa: E402
from ticket_core.migrate import upgrade  # noqa: E402
from ticket_core.org import seed_org  # noqa: E402

TEXTS = [
    "صار لي ثلاث شهور ما نزلت مكافأة ولدي في الجامعة، وين حقوقنا؟",
    "متى يفتح التسجيل في رياض الأطفال للعام الجاي؟",
    "أقترح تمديد فترة التقديم على المنح الخارجية",
    "المعلم يتأخر عن الحصص كل يوم في مدرسة ابني بالرياض",
    "ولدي عنده صعوبات تعلم تنصحوني بإيش؟",
    "The school bus has been late every morning this week",
]


def events(count: int, tag: str) -> list[InboundEvent]:
    return [
        InboundEvent(
            channel="telegram",
            account_ref="7000000001",
            event_id=f"{tag}-{i}",
            kind=EventKind.MESSAGE,
            thread_ref=f"{tag}{i}",
            user_ref=f"{tag}{i}",
            user_display="مواطن",
            text=TEXTS[i % len(TEXTS)],
            raw={"update_id": i},
        )
        for i in range(count)
    ]


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    admin_url = os.environ.get("TAWASUL_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"tawasul_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(str(make_url(admin_url).set(drivername="postgresql+psycopg")), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield str(make_url(admin_url).set(database=name))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(kind: str, messages: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
        db = Database(url)
        upgrade(db.engine)
        with db.session() as session:
            seed_org(session, REPO / "data" / "org.yml")
        settings = load_settings(var_dir=Path(tmp) / "var", database_url=url, broker_url="memory://")
        runtime = Runtime(settings)
        runtime.db = db
        pipeline = runtime.pipeline
        chunk = pipeline.settings.rows_per_transaction

        def stored(tag: str) -> list[int]:
            with db.session() as session:
                return [s.inbox_id for s in inbox.store_events(session, events(messages, tag)) if s.inbox_id]

        pipeline.process_many(stored("warm")[:batch])  # model load, caches, prepared statements
        floor_ids, pipe_ids = stored("floor"), stored("pipe")

        started = time.perf_counter()
        for i in range(0, len(floor_ids), chunk):
            with db.session() as session:
                inbox.mark_done_many(session, inbox.claim_many(session, floor_ids[i : i + chunk]))
        floor = len(floor_ids) / (time.perf_counter() - started)

        started = time.perf_counter()
        nlu.analyse_many([e.text or "" for e in events(messages, "nlu")])
        nlu_rate = messages / (time.perf_counter() - started)

        statements = collections.Counter[str]()
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.update([a[2].split()[0]]))
        started = time.perf_counter()
        outcomes = []
        for i in range(0, len(pipe_ids), batch):
            outcomes += pipeline.process_many(pipe_ids[i : i + batch])
        rate = len(pipe_ids) / (time.perf_counter() - started)
        processed = sum(o.status == "processed" for o in outcomes)
        per_message = sum(statements.values()) / len(pipe_ids)
        kinds = ", ".join(f"{k} {v / len(pipe_ids):.1f}" for k, v in statements.most_common())
        print(f"[{kind}] {processed}/{len(pipe_ids)} processed")
        print(f"  pipeline   {rate:8.0f} msg/s   ({1000 / rate:.1f} ms/msg, {per_message:.1f} statements/msg: {kinds})")
        print(f"  floor      {floor:8.0f} msg/s   claim + mark done, {chunk} rows per transaction")
        print(f"  NLU only   {nlu_rate:8.0f} msg/s   nlu.analyse_many over the same texts")
        print(f"  ratio      {rate / floor:8.3f}   pipeline / floor")
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--batch", type=int, default=100, help="rows per process_many call (a worker's batch)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    for kind in kinds:
        try:
            run(kind, args.messages, args.batch)
        except Exception as exc:  # PostgreSQL not running: say so and go on
            if kind == "sqlite":
                raise
            print(f"[{kind}] skipped: {type(exc).__name__}: {str(exc).splitlines()[0]}")


if __name__ == "__main__":
    main()
