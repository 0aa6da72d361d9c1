"""The ``uno-jobs`` command as a real process, for the CLI tests (the fixtures are in
this folder's ``conftest.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processes import clean_env

UNO_JOBS = str(Path(sys.executable).parent / "uno-jobs")
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Cli:
    """Runs ``uno-jobs`` in ``cwd`` with a clean environment (plus ``env``)."""

    cwd: Path
    env: dict[str, str]

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [UNO_JOBS, *args],
            cwd=self.cwd,
            env=clean_env(**self.env),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=60,
        )

    def json(self, *args: str) -> Any:
        """The JSON a command printed with ``--json``; fails the test on a non-zero exit."""
        result = self(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


def assert_one_line_failure(
    result: subprocess.CompletedProcess[str], status: int, contains: str
) -> None:
    """The command failed with ``status`` and one line on stderr that says ``contains``."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("uno-jobs: ") or "Error" in lines[0], lines[0]
    assert contains in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
