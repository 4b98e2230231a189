"""The ``tawasul`` command line. Each command lives in its own module; this file only assembles them.

Commands are imported when they run, not when the CLI starts: ``tawasul migrate`` or ``tawasul
tickets`` should not pay for loading scikit-learn, aiohttp and the connectors (about 2 s of CPU).
"""

from __future__ import annotations

import importlib

import click

# command name -> (module under hub.cli, attribute)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("serve_command", "serve"),
    "worker": ("queue_commands", "worker"),
    "beat": ("queue_commands", "beat"),
    "migrate": ("data_commands", "migrate"),
    "seed": ("data_commands", "seed"),
    "tickets": ("ticket_commands", "tickets"),
    "inbox": ("ticket_commands", "inbox"),
    "outbox": ("ticket_commands", "outbox"),
    "calendar": ("ops_commands", "calendar"),
    "report": ("ops_commands", "report"),
    "users": ("ops_commands", "users"),
    "sla-sweep": ("ops_commands", "sla_sweep"),
    "channels": ("ops_commands", "channels"),
    "rasa-actions": ("ops_commands", "rasa_actions"),
    "train": ("nlu_commands", "train_command"),
    "classify": ("nlu_commands", "classify_command"),
    "nlu-eval": ("nlu_commands", "nlu_eval_command"),
    "demo": ("demo_command", "demo"),
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"hub.cli.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tawasul-hub")
def main() -> None:
    """Tawasul Hub: omnichannel intake for a beneficiary-care service."""


if __name__ == "__main__":
    main()
