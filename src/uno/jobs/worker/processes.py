"""A pool of child processes for CPU-bound tasks (``Task.executor == "process"``).

Each child runs one call at a time and answers over a pipe that the event loop
watches with ``add_reader``, so waiting never blocks the loop. Unlike
``ProcessPoolExecutor``, one child can be killed when its call times out without
breaking the calls running in the others.

Children are started with ``spawn`` (no fork of a threaded process) and find the
function again by module and qualified name, so a task must be defined at the
top level of an importable module.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import multiprocessing
import signal
import traceback
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from uno.jobs.errors import Cancel, Retry

#: ``deliver(token, ok, value)``: value is the result, or a ``RemoteError``.
Deliver = Callable[[Any, bool, Any], None]


class RemoteError(Exception):
    """An exception raised in a child process, carried back as text."""

    def __init__(self, type_name: str, message: str, tb: str | None) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.message = message
        self.tb = tb


def resolve(module_name: str, qualname: str) -> Callable[..., Any]:
    """The function at ``module:qualname``; a registered Task gives its function."""
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    function: Callable[..., Any] = getattr(target, "func", target)
    return function


def _child_main(conn: Connection) -> None:
    """Serve calls until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    while True:
        try:
            module_name, qualname, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            result = resolve(module_name, qualname)(*args, **kwargs)
            if asyncio.iscoroutine(result):
                result = asyncio.run(result)
            reply: tuple[Any, ...] = ("ok", result)
        except Retry as exc:
            reply = ("retry", exc.delay, str(exc))
        except Cancel as exc:
            reply = ("cancel", str(exc))
        except BaseException as exc:
            reply = ("error", type(exc).__name__, str(exc), traceback.format_exc())
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result
            conn.send(("error", type(exc).__name__, f"cannot send the result: {exc}", None))


class _Child:
    __slots__ = ("conn", "process", "token")

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.token: Any = None


class ProcessPool:
    """Up to ``size`` children, started on first use and reused."""

    def __init__(self, size: int, deliver: Deliver) -> None:
        self._size = size
        self._deliver = deliver
        self._ctx = multiprocessing.get_context("spawn")
        self._idle: list[_Child] = []
        self._busy: dict[int, _Child] = {}
        self._waiting: deque[tuple[Any, tuple[str, str, Any, Any]]] = deque()
        self._count = 0

    def submit(self, token: Any, fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
        call = (fn.__module__, fn.__qualname__, args, kwargs)
        child = self._take()
        if child is None:
            self._waiting.append((token, call))
        else:
            self._send(child, token, call)

    def abandon(self, token: Any) -> None:
        """Kill the child running ``token`` (or drop the call if not started)."""
        for i, (waiting, _) in enumerate(self._waiting):
            if waiting is token:
                del self._waiting[i]
                return
        child = self._busy.pop(id(token), None)
        if child is not None:
            self._discard(child, kill=True)
            self._next()

    def close(self) -> None:
        for child in [*self._idle, *self._busy.values()]:
            self._discard(child, kill=child in self._busy.values())
        self._idle.clear()
        self._busy.clear()
        self._waiting.clear()

    def _take(self) -> _Child | None:
        if self._idle:
            return self._idle.pop()
        if self._count < self._size:
            parent, child_conn = self._ctx.Pipe()
            process = self._ctx.Process(
                target=_child_main, args=(child_conn,), daemon=True, name="uno-jobs-process"
            )
            process.start()
            child_conn.close()
            self._count += 1
            return _Child(process, parent)
        return None

    def _send(self, child: _Child, token: Any, call: tuple[str, str, Any, Any]) -> None:
        try:
            child.conn.send(call)
        except Exception as exc:
            self._idle.append(child)
            self._deliver(token, False, exc)
            return
        child.token = token
        self._busy[id(token)] = child
        asyncio.get_running_loop().add_reader(child.conn.fileno(), self._on_reply, child)

    def _on_reply(self, child: _Child) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(child.conn.fileno())
        token = child.token
        self._busy.pop(id(token), None)
        child.token = None
        try:
            reply = child.conn.recv()
        except (EOFError, OSError):
            code = child.process.exitcode
            self._discard(child, kill=True)
            self._deliver(
                token,
                False,
                RemoteError("ProcessDied", f"the task's process exited (code {code})", None),
            )
            self._next()
            return
        self._idle.append(child)
        kind = reply[0]
        if kind == "ok":
            self._deliver(token, True, reply[1])
        elif kind == "retry":
            self._deliver(token, False, Retry(reply[1], reply[2]))
        elif kind == "cancel":
            self._deliver(token, False, Cancel(reply[1]))
        else:
            self._deliver(token, False, RemoteError(reply[1], reply[2], reply[3]))
        self._next()

    def _next(self) -> None:
        while self._waiting:
            child = self._take()
            if child is None:
                return
            token, call = self._waiting.popleft()
            self._send(child, token, call)

    def _discard(self, child: _Child, *, kill: bool) -> None:
        with contextlib.suppress(RuntimeError, OSError, ValueError):
            asyncio.get_running_loop().remove_reader(child.conn.fileno())
        if kill and child.process.is_alive():
            child.process.kill()
        child.conn.close()
        child.process.join(timeout=1.0)
        self._count -= 1
        if child in self._idle:
            self._idle.remove(child)
