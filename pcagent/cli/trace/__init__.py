"""`pcagent trace`: inspect, import, refine, complete, export and report trajectories.

Each module registers its own subcommands on the `trace` parser."""

from __future__ import annotations

from pcagent.cli.trace import complete, export, inspect, refine, report

__all__ = ["register"]


def register(commands) -> None:
    trace = commands.add_parser("trace", help="inspect, convert and prepare trajectories")
    trace_commands = trace.add_subparsers(dest="trace_command", required=True, metavar="SUBCOMMAND")
    for group in (inspect, refine, complete, export, report):
        group.register(trace_commands)
