"""The ``tawasul`` command line. Each command lives in its own module; this file only assembles them."""

from __future__ import annotations

import click

from hub.cli import data_commands, ops_commands, queue_commands, serve_command, ticket_commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tawasul-hub")
def main() -> None:
    """Tawasul Hub: omnichannel intake for a beneficiary-care service."""


for command in (
    serve_command.serve,
    queue_commands.worker,
    queue_commands.beat,
    data_commands.migrate,
    data_commands.seed,
    ticket_commands.tickets,
    ticket_commands.inbox,
    ticket_commands.outbox,
    ops_commands.calendar,
    ops_commands.report,
    ops_commands.users,
    ops_commands.sla_sweep,
    ops_commands.channels,
    ops_commands.rasa_actions,
):
    main.add_command(command)


def _add_optional_commands() -> None:
    from hub.cli import demo_command, nlu_commands

    main.add_command(nlu_commands.train_command)
    main.add_command(nlu_commands.classify_command)
    main.add_command(nlu_commands.nlu_eval_command)
    main.add_command(demo_command.demo)


_add_optional_commands()

if __name__ == "__main__":
    main()
