"""Wake-ups across processes sharing one SQLite file, without polling it.

A store that waits for jobs listens on a Linux abstract UNIX datagram socket and
leaves a marker file named after it in ``<database>-wake/``. A store that has
just committed new work sends one byte to the socket of every marker there. A
waiter killed without cleaning up leaves a marker whose socket is gone: the first
sender to find it so removes it. Where abstract sockets do not exist (anything
but Linux) nothing listens, and waiters poll the file's change counter instead.

The same sockets carry cancellations of running jobs: a datagram ``c:<job id>``
(a wake-up is ``!``), so the worker running the job hears of it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import sys
from collections.abc import Callable
from pathlib import Path

_PREFIX = "uno-jobs-"
_CANCEL = b"c:"
#: Largest datagram read: a cancel carries a job id (at most ``max_name_chars``).
_MAX_DATAGRAM = 4096


class WakeChannel:
    """The wake-up folder of one SQLite database, from one store's side."""

    def __init__(self, database_path: str) -> None:
        self.folder = Path(f"{database_path}-wake")
        self._listener: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._name: str | None = None
        self._sender: socket.socket | None = None
        self._peers: list[str] = []
        self._peers_mtime: int | None = None
        self._on_cancel: Callable[[str | None], None] | None = None

    @staticmethod
    def supported() -> bool:
        return sys.platform.startswith("linux")

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def listen(self, on_wake: Callable[[], None]) -> bool:
        """Start receiving wake-ups on the running loop; False where unsupported."""
        if self._listener is not None:
            return True
        if not self.supported():
            return False
        name = f"{_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.setblocking(False)
        listener.bind("\0" + name)
        self.folder.mkdir(exist_ok=True)
        (self.folder / name).touch()
        loop = asyncio.get_running_loop()
        loop.add_reader(listener.fileno(), self._drain, on_wake)
        self._listener, self._loop, self._name = listener, loop, name
        return True

    def on_cancel(self, handler: Callable[[str | None], None]) -> None:
        """Call ``handler(job_id)`` for every cancellation datagram received."""
        self._on_cancel = handler

    def _drain(self, on_wake: Callable[[], None]) -> None:
        listener = self._listener
        assert listener is not None
        woken = False
        with contextlib.suppress(BlockingIOError):
            while message := listener.recv(_MAX_DATAGRAM):
                if message.startswith(_CANCEL):
                    if self._on_cancel is not None:
                        self._on_cancel(message[len(_CANCEL) :].decode("utf-8", "replace"))
                else:
                    woken = True
        if woken:
            on_wake()

    def notify(self) -> None:
        """Wake every other listening store of this database (one send each)."""
        self._send(b"!")

    def notify_cancel(self, job_id: str) -> None:
        """Tell every other listening store that the running job ``job_id`` was cancelled."""
        self._send(_CANCEL + job_id.encode("utf-8"))

    def _send(self, message: bytes) -> None:
        try:
            mtime = self.folder.stat().st_mtime_ns
        except FileNotFoundError:
            return  # no store has ever waited on this database
        if mtime != self._peers_mtime:
            self._peers = [n for n in os.listdir(self.folder) if n.startswith(_PREFIX)]
            self._peers_mtime = mtime
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
        for name in self._peers:
            if name == self._name:
                continue  # this store's own waiters are woken in process
            try:
                self._sender.sendto(message, "\0" + name)
            except BlockingIOError:
                pass  # its buffer is full of wake-ups already
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(FileNotFoundError):
                    (self.folder / name).unlink()  # its process is gone

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            if self._loop is not None and not self._loop.is_closed():
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(listener.fileno())
            listener.close()
            if self._name is not None:
                with contextlib.suppress(FileNotFoundError):
                    (self.folder / self._name).unlink()
        if self._sender is not None:
            self._sender.close()
            self._sender = None
