"""Summarise py-spy collapsed stacks (``--format raw``): top functions by own and total time.

BENCH_PROFILE_DIR=/tmp/prof python benchmarks/run.py --only uno_postgres --skip api
python benchmarks/profile_report.py /tmp/prof/*.txt
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

IDLE = re.compile(r"\b(select|poll|epoll_wait|_run_once|wait|sleep|acquire)\b")


def summarise(path: Path, top: int, thread_filter: str | None) -> str:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        if thread_filter and thread_filter not in stack:
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f]
        samples += n
        if frames:
            own[_short(frames[-1])] += n
        for frame in {_short(f) for f in frames}:
            total[frame] += n
    lines = [f"== {path.name}: {samples} samples"]
    lines.append(f"-- own time, top {top}")
    lines += [f"{n * 100 / samples:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append(f"-- total time, top {top}")
    lines += [f"{n * 100 / samples:5.1f}%  {f}" for f, n in total.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``func (path/to/module.py:123)`` -> ``func (module.py)``."""
    match = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame
    name, where = match.groups()
    parts = Path(where).parts
    return f"{name} ({'/'.join(parts[-2:])})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--thread", default=None, help="keep stacks containing this text")
    args = parser.parse_args()
    for path in args.files:
        print(summarise(path, args.top, args.thread))
        print()


if __name__ == "__main__":
    main()
