"""Helpers for tests that run real processes: ports, a clean environment, readiness.

Every test that starts ``uno-jobs serve`` (or dials a database that is not there)
needs the same few things; they live here once.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from helpers import eventually_blocking


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@contextmanager
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers: they hang."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ``UNO_JOBS_*`` setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNO_JOBS_")}
    env.update(settings)
    return env


def wait_until_ready(
    url: str,
    process: subprocess.Popen[bytes] | subprocess.Popen[str],
    log: Callable[[], str],
    timeout: float = 30.0,
) -> None:
    """Poll ``url``/readyz until it answers 200; fail with the server's log if it dies
    or does not get there within ``timeout``."""

    def ready() -> bool:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        assert process.poll() is None, f"the server exited:\n{log()}"
        return False

    try:
        eventually_blocking(ready, timeout=timeout, what=f"{url} ready")
    except AssertionError as exc:
        raise AssertionError(f"{exc}:\n{log()}") from None
