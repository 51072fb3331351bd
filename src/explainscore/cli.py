"""The ``explainscore`` command.

Exit codes: 0 success, 1 a user error (bad input, model or parameter), 2 a usage error.
Errors go to stderr on one line; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .exceptions import ExplainScoreError

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    run_demo(Path(args.output), n_show=args.show, out=sys.stdout)
    return 0


def _parser() -> argparse.ArgumentParser:
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="explainscore", description="Exact, readable explanations for lead scores."
    )
    parser.add_argument("--version", action="version", version=f"explainscore {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="train a model on the bundled bank data and explain held-out leads"
    )
    demo.add_argument("--output", default="demo_output", help="folder for scored_leads.csv")
    demo.add_argument("--show", type=int, default=10, help="leads to print (default 10)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: Any = args.func(args)
    except ExplainScoreError as exc:
        if args.debug:
            raise
        print(f"explainscore: error: {exc}", file=sys.stderr)
        return 1
    return int(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
