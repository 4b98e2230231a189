"""`tawasul worker` and `tawasul beat`: the production queue processes."""

from __future__ import annotations

import click

from hub.cli.common import settings_or_exit
from hub.config import Settings


def worker_argv(
    settings: Settings, concurrency: int, *, with_beat: bool, kinds: tuple[str, ...] | None = None
) -> list[str]:
    from hub.queue.app import queue_names

    names = queue_names(settings)
    queues = ",".join(names[kind] for kind in (kinds or tuple(names)))
    argv = ["worker", "--loglevel", settings.log_level, "--concurrency", str(concurrency), "-Q", queues]
    argv += ["--without-gossip", "--without-mingle", "-n", "tawasul@%h"]
    if with_beat:
        argv += ["--beat", "--schedule", str(settings.var_dir / "celerybeat-schedule")]
    return argv


@click.command()
@click.option("--concurrency", "-c", type=int, help="worker processes (default TAWASUL_WORKER_CONCURRENCY)")
@click.option("--beat/--no-beat", default=False, help="also run the scheduler in this worker (one per site)")
@click.option(
    "--queue",
    "-Q",
    "kinds",
    multiple=True,
    type=click.Choice(["intake", "delivery", "maintenance"]),
    help="consume only these queues (repeatable; default all). Large sites run maintenance apart, "
    "so a long SLA sweep never holds up intake.",
)
def worker(concurrency: int | None, beat: bool, kinds: tuple[str, ...]) -> None:
    """Run a queue worker (intake, delivery, maintenance)."""
    settings = settings_or_exit()
    from hub.queue.app import celery_app

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    argv = worker_argv(settings, concurrency or settings.worker_concurrency, with_beat=beat, kinds=kinds or None)
    celery_app.worker_main(argv)


@click.command()
def beat() -> None:
    """Run the scheduler (SLA and durability sweeps); run exactly one per site."""
    settings = settings_or_exit()
    from hub.queue.app import celery_app

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    celery_app.start(
        ["beat", "--loglevel", settings.log_level, "--schedule", str(settings.var_dir / "celerybeat-schedule")]
    )
