"""Periodic jobs run one at a time: a second run finds the lock held and steps aside."""

from __future__ import annotations

from pathlib import Path

from hub.cli.queue_commands import worker_argv
from hub.config import load_settings
from hub.queue.singleton import only_one
from ticket_core.db import Database


def test_a_second_run_is_refused_while_the_first_holds_the_lock(db: Database, tmp_path: Path) -> None:
    with only_one(db, "sla-sweep", tmp_path) as first:
        assert first is True
        with only_one(db, "sla-sweep", tmp_path) as second:
            assert second is False
        with only_one(db, "another-job", tmp_path) as other:
            assert other is True  # locks are per job name
    with only_one(db, "sla-sweep", tmp_path) as after:
        assert after is True  # released when the first run ended


def test_the_lock_is_released_when_the_run_fails(db: Database, tmp_path: Path) -> None:
    try:
        with only_one(db, "sla-sweep", tmp_path) as held:
            assert held
            raise RuntimeError("sweep crashed")
    except RuntimeError:
        pass
    with only_one(db, "sla-sweep", tmp_path) as again:
        assert again is True


def test_a_worker_can_consume_only_some_queues(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path, queue_prefix="site1")
    every = worker_argv(settings, 2, with_beat=False)
    assert every[every.index("-Q") + 1] == "site1.intake,site1.delivery,site1.maintenance"
    only = worker_argv(settings, 1, with_beat=False, kinds=("maintenance",))
    assert only[only.index("-Q") + 1] == "site1.maintenance"
