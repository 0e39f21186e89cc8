"""``python -m benchmarks.report``: write benchmarks/README.md from benchmarks/results/ (``--check``: only compare)."""

import argparse
import sys

from . import README, render


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    ap.add_argument("--check", action="store_true", help="exit 1 if benchmarks/README.md differs from a fresh rendering")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = README.read_text() == text
        print("benchmarks/README.md is " + ("current" if current else "out of date: run python -m benchmarks.report"))
        return 0 if current else 1
    README.write_text(text)
    print(f"wrote {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
