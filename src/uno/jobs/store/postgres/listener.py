"""LISTEN/NOTIFY wake-ups on a dedicated connection that outlives server restarts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

#: The payload prefix of a running job's cancellation (``cancel:<job id>``).
_CANCEL = "cancel:"


class Listener:
    """Sets an event whenever the channel is notified.

    One background task owns the connection; when it breaks (server restart,
    terminated backend) the task reconnects with a capped backoff and wakes the
    waiters once, since notifications sent meanwhile were lost.

    A notification whose payload is ``cancel:<job id>`` is a running job's
    cancellation: it goes to the cancel subscribers instead (told ``None`` after
    a reconnect, since cancellations may have been lost too).
    """

    def __init__(self, conninfo: str, channel: str, connect_kwargs: dict[str, Any]):
        self._conninfo = conninfo
        self._channel = channel
        self._kwargs = connect_kwargs
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._cancel_listeners: list[Callable[[str | None], None]] = []
        self._connected_before = False

    def on_cancel(self, listener: Callable[[str | None], None]) -> Callable[[], None]:
        """Call ``listener`` with the id of every job cancelled while running; returns
        the unsubscribe call."""
        self._cancel_listeners.append(listener)
        self.start()

        def stop() -> None:
            if listener in self._cancel_listeners:
                self._cancel_listeners.remove(listener)

        return stop

    def _cancelled(self, job_id: str | None) -> None:
        for listener in list(self._cancel_listeners):
            try:
                listener(job_id)
            except Exception:  # one subscriber's fault must not stop the others
                log.exception("A cancel listener failed")

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"uno-jobs listen {self._channel}")

    async def wait_listening(self, timeout: float) -> bool:
        """True once LISTEN is in place (for callers that must not miss the next NOTIFY)."""
        self.start()
        try:
            await asyncio.wait_for(self._listening.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def wait(self, timeout: float) -> None:
        """Return when notified (or was notified since the last wait), or after ``timeout``."""
        self.start()
        if not self._event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        delay = 0.05
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, **self._kwargs
                )
            except psycopg.OperationalError as exc:
                log.debug("LISTEN connection failed (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            try:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                delay = 0.05
                self._listening.set()
                # Anything sent before LISTEN took effect was missed: wake waiters once.
                self._event.set()
                if self._connected_before:
                    self._cancelled(None)
                self._connected_before = True
                async for notice in conn.notifies():
                    if notice.payload.startswith(_CANCEL):
                        self._cancelled(notice.payload[len(_CANCEL) :])
                    else:
                        self._event.set()
            except psycopg.OperationalError as exc:
                log.info("LISTEN connection lost (%s); reconnecting", exc)
            finally:
                self._listening.clear()
                with contextlib.suppress(Exception):
                    await conn.close()
            await asyncio.sleep(delay)
