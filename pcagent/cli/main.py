"""The `pcagent` command line: every capability, headless."""

from __future__ import annotations

import argparse
import sys

from pcagent import __version__
from pcagent.cli import demo, grounding, models, record, run, trace


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pcagent", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pcagent {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (demo, record, run, models, grounding, trace):
        group.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
