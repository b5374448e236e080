"""The `pcagent` command line: every capability, headless."""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from pcagent import __version__
from pcagent.cli import app, demo, eval as eval_command, exit_codes, grounding, models, record, run, trace


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pcagent", description=__doc__,
                                     epilog="Exit codes: 0 ok, 1 failed, 2 usage, 3 model unavailable, "
                                            "4 no display, 130 interrupted.")
    parser.add_argument("--version", action="version", version=f"pcagent {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (app, demo, record, run, eval_command, models, grounding, trace):
        group.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # on a desktop, plain `pcagent` is the tray app
        if not os.environ.get("DISPLAY"):
            parser.print_help()
            return exit_codes.USAGE
        argv = ["app"]
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("pcagent: interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
    except Exception as exc:  # every error a command did not handle: one line, its exit code
        if args.debug:
            traceback.print_exc()
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        code = exit_codes.exit_code_for(exc)
        hint = "" if args.debug or code != exit_codes.FAILED else " (pcagent --debug ... shows the traceback)"
        print(f"pcagent {args.command}: {message}{hint}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
