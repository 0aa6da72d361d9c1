"""Tasks of the console's browser tests: the demo tasks, and one that fails until a
file exists (so a failed job can be retried from the console and complete)."""

from __future__ import annotations

from pathlib import Path

from uno.jobs.demo import registry, task


@task("Fail until the file at path exists", max_retries=0)
def fail_until(path: str) -> str:
    if not Path(path).exists():
        raise RuntimeError(f"{path} does not exist yet")
    return "done"


__all__ = ["registry"]
