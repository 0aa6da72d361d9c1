"""Entry point of a benchmark worker process: ``python -m benchmarks.worker NAME``."""

from __future__ import annotations

import sys

from benchmarks.systems import load


def main() -> None:
    load(sys.argv[1]).run_worker()


if __name__ == "__main__":
    main()
