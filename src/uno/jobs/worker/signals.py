"""SIGTERM and SIGINT ask a worker to stop politely; a second one stops it at once
(``StopRequest``: what the loop reads at each turn)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from types import FrameType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install(request_stop: Callable[[], None]) -> None:
    """Route the stop signals to ``request_stop`` (on the running loop when there is one)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    for sig in STOP_SIGNALS:
        if loop is not None:
            try:
                loop.add_signal_handler(sig, request_stop)
                continue
            except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
                pass
        _install_plain(sig, request_stop)


def _install_plain(sig: signal.Signals, request_stop: Callable[[], None]) -> None:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        request_stop()

    # Not the main thread: leave signals to whoever owns them.
    with contextlib.suppress(ValueError):
        signal.signal(sig, handler)


def uninstall() -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(sig)


class StopRequest:
    """Whether a stop was asked, and the grace period asked with it.

    Written from any thread or a signal handler: two plain attributes, read by
    the loop at each turn.
    """

    __slots__ = ("asked", "grace")

    def __init__(self) -> None:
        self.asked = False
        #: None: the worker's ``shutdown_grace``; asked twice: 0 (hand back at once).
        self.grace: float | None = None

    def ask(self, grace: float | None) -> None:
        if self.asked:
            self.grace = 0.0
        else:
            self.asked = True
            if grace is not None:
                self.grace = grace
