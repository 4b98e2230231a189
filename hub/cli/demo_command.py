"""`tawasul demo`."""

from __future__ import annotations

import sys

import click

from hub.cli.common import settings_or_exit


@click.command()
@click.option("--keep", is_flag=True, help="keep the demo's database and logs under var/demo/")
def demo(keep: bool) -> None:
    """Send realistic Arabic and English messages on every channel through a local embedded hub (fake platforms) and print tickets and replies."""
    settings = settings_or_exit()
    from hub.demo import run_demo

    sys.exit(run_demo(settings.var_dir, settings.nlu_model_path, click.echo, keep=keep))
