"""A pool of daemon threads for plain (non-async) task functions.

Not ``concurrent.futures.ThreadPoolExecutor``, for two reasons: a thread cannot
be killed, so a timed-out call is *abandoned* and a replacement thread takes its
place (the pool keeps its size for new work); and the threads are daemons, so a
call that never returns cannot hold the worker process open at exit.

Finished calls are handed to the event loop in batches: a thread appends to a
deque and wakes the loop only if no wake-up is pending already.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any

#: ``deliver(token, ok, value)``: value is the result, or the exception raised.
Deliver = Callable[[Any, bool, Any], None]


class ThreadPool:
    """Runs ``fn(*args, **kwargs)`` on up to ``size`` threads, results to ``deliver``."""

    def __init__(self, size: int, deliver: Deliver, name: str = "uno-jobs-task") -> None:
        self._size = size
        self._deliver = deliver
        self._name = name
        self._work: SimpleQueue[tuple[Any, Callable[..., Any], Any, Any] | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._alive = 0
        self._idle = 0
        self._target = size
        self._abandoned: set[int] = set()
        self._done: deque[tuple[Any, bool, Any]] = deque()
        self._signalled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def submit(self, token: Any, fn: Callable[..., Any], args: Any, kwargs: Any) -> None:
        """Queue a call; ``token`` comes back with its outcome."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        with self._lock:
            if self._idle:
                self._idle -= 1
            elif self._alive < self._target:
                self._spawn()
        self._work.put((token, fn, args, kwargs))

    def abandon(self, token: Any) -> None:
        """Give up on a running call: its outcome is dropped, and a new thread
        joins the pool so the abandoned one does not cost a slot."""
        with self._lock:
            self._abandoned.add(id(token))
            self._target += 1

    def close(self) -> None:
        """Let idle threads exit; abandoned calls run on, as daemons."""
        self._closed = True
        with self._lock:
            for _ in range(self._alive):
                self._work.put(None)

    def _spawn(self) -> None:
        self._alive += 1
        threading.Thread(
            target=self._serve, name=f"{self._name}-{self._alive}", daemon=True
        ).start()

    def _serve(self) -> None:
        work = self._work
        while True:
            item = work.get()
            if item is None:
                with self._lock:
                    self._alive -= 1
                return
            token, fn, args, kwargs = item
            try:
                value, ok = fn(*args, **kwargs), True
            except BaseException as exc:
                value, ok = exc, False
            with self._lock:
                abandoned = id(token) in self._abandoned
                if abandoned:
                    self._abandoned.discard(id(token))
                    self._target -= 1
                    if self._alive > self._target:
                        self._alive -= 1
                        return
                self._idle += 1
            if not abandoned:
                self._post(token, ok, value)
            del item, token, fn, args, kwargs, value

    def _post(self, token: Any, ok: bool, value: Any) -> None:
        self._done.append((token, ok, value))
        if not self._signalled and self._loop is not None and not self._closed:
            self._signalled = True
            # A closed loop raises RuntimeError: nobody is listening any more.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        self._signalled = False
        done = self._done
        deliver = self._deliver
        while done:
            token, ok, value = done.popleft()
            deliver(token, ok, value)
