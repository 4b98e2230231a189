"""Helpers shared by CLI commands: settings with one-line errors, logging."""

from __future__ import annotations

import sys

import click

from hub.config import ConfigError, Settings, get_settings
from hub.logs import configure_logging


def settings_or_exit() -> Settings:
    """Settings from the environment; an invalid one ends the command with one clear line."""
    try:
        settings = get_settings()
    except ConfigError as exc:
        click.echo(f"tawasul: {exc}", err=True)
        sys.exit(2)
    configure_logging(settings.log_level, settings.log_format)
    return settings


def fail(message: str, code: int = 1) -> None:
    click.echo(f"tawasul: {message}", err=True)
    sys.exit(code)
