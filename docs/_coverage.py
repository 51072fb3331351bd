"""Generate the coverage table of docs/coverage.md from real runs (tests/coverage/).

    python docs/_coverage.py            print the table and any failing case
    python docs/_coverage.py --write    also write it into docs/coverage.md

Exits 1 when a case fails (an untyped error, the "bug" message, or values that do not match
their oracle): those are bugs to fix, not rows to delete.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "coverage.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write docs/coverage.md")
    parser.add_argument("--times", action="store_true", help="print each case's seconds")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from tests.coverage.harness import describe_failures, render, run_all, splice

    os.chdir(tempfile.mkdtemp())  # some libraries write training logs to the working dir
    results = run_all()
    blocks = render(results)
    if args.times:
        for r in sorted(results, key=lambda r: -r.seconds)[:15]:
            print(f"{r.seconds:6.2f}s  {r.case.model} / {r.case.setting} / {r.space}")
    if args.write:
        page = PAGE.read_text() if PAGE.exists() else ""
        PAGE.write_text(splice(page, blocks))
        print(f"wrote {PAGE.relative_to(ROOT)}")
    else:
        print("\n\n".join(blocks.values()))
    failures = describe_failures(results)
    for line in failures:
        print("FAILED:", line, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
