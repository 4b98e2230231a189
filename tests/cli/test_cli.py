"""The `tawasul` command line: migrate, seed, tickets --json, outbox, inbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from connectors.base import EventKind, InboundEvent
from hub.cli import main
from hub.config import get_settings
from hub.runtime import Runtime
from tests.helpers import make_settings
from ticket_core.db import Database
from ticket_core.inbox import store_events
from ticket_core.outbox import RetryPolicy, claim_many, mark_failed


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[dict[str, str]]:
    env = {"TAWASUL_DATABASE_URL": database_url, "TAWASUL_VAR_DIR": str(tmp_path / "var")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_migrate_then_seed_then_empty_listings(cli_env: dict[str, str]) -> None:
    assert "migration(s) applied" in run("migrate")
    seeded = run("seed")
    assert "seeded" in seeded and "canned answers" in seeded and " 0 canned" not in seeded
    assert "0 migration(s) applied" in run("migrate")  # idempotent
    assert run("tickets", "--json") == ""
    assert "(none)" in run("tickets")


def test_seed_before_migrate_says_what_to_do(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["seed"])
    assert result.exit_code == 1 and "run `tawasul migrate` first" in result.output


def test_tickets_json_has_one_object_per_line_with_the_agreed_keys(
    cli_env: dict[str, str], tmp_path: Path, secrets_: dict[str, str], nlu_model_path: Path
) -> None:
    run("migrate")
    run("seed")
    runtime = Runtime(make_settings(tmp_path, cli_env["TAWASUL_DATABASE_URL"], secrets_, nlu_model_path))
    events = [
        InboundEvent("telegram", "1", str(i), EventKind.MESSAGE, str(100 + i), str(100 + i), text=text)
        for i, text in enumerate(
            ["ما نزل راتبي للحين وأنا معين من شهرين", "أقترح تمديد ساعات مكتبة جامعة الملك سعود أيام الاختبارات"]
        )
    ]
    with runtime.db.session() as session:
        ids = [s.inbox_id for s in store_events(session, events)]
    runtime.pipeline.process_many(ids)  # type: ignore[arg-type]
    with runtime.db.session() as session:  # make the first reply dead, as a platform would
        [claimed] = claim_many(session, [1], lease=timedelta(seconds=30))
        mark_failed(session, claimed.id, "citizen blocked the bot http=403", retryable=False, policy=RetryPolicy())
    lines = run("tickets", "--json").splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 2
    for row in rows:
        assert {
            "number",
            "channel",
            "category",
            "status",
            "unit",
            "escalation_level",
            "created_at",
            "due_at",
        } <= row.keys()
        assert row["channel"] == "telegram" and row["status"] == "assigned"
    # salaries go to the salaries directorate, a named university to that university (data/routing.yml)
    assert [row["unit"] for row in rows] == ["gd-salaries", "university-ksu"]
    assert rows[0]["delivery"] == "dead" and "blocked" in rows[0]["delivery_error"]
    dead = [json.loads(line) for line in run("outbox", "--json", "--status", "dead").splitlines()]
    assert [d["id"] for d in dead] == [1]
    assert "requeued" in run("outbox", "--requeue", "1")
    assert run("outbox", "--json", "--status", "dead") == ""
    assert len(run("inbox", "--json").splitlines()) == 2
    Database(cli_env["TAWASUL_DATABASE_URL"]).dispose()


def test_requeue_of_a_message_that_is_not_dead_fails_clearly(cli_env: dict[str, str]) -> None:
    run("migrate")
    result = CliRunner().invoke(main, ["outbox", "--requeue", "99"])
    assert result.exit_code == 1 and "is not dead" in result.output


def test_every_command_is_found_under_its_own_name_and_loaded_only_when_asked() -> None:
    import subprocess
    import sys

    from hub.cli import COMMANDS, LazyGroup

    group = main
    assert isinstance(group, LazyGroup)
    for name in COMMANDS:
        command = group.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and command.name == name
    assert group.get_command(None, "no-such-command") is None  # type: ignore[arg-type]
    # A plain command does not import the NLU's model code (scikit-learn) just to start.
    probe = "import sys; from hub.cli import main; main.get_command(None, 'tickets'); print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
