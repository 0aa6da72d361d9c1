"""The HTTP protocol ``uno-jobs serve`` runs uvicorn with: httptools, heads bounded.

uvicorn's default parser (httptools, part of ``uvicorn[standard]``) reads a
request line and headers of any length: a client sending one endless header keeps
the parser copying it, and the event loop with it, while every other request
waits. h11 bounds the whole head (``h11_max_incomplete_event_size``) but costs
noticeably more per request, so the httptools protocol is kept and given a bound
of its own here, through uvicorn's seam for a protocol class:

- one header line (name and value) at most ``Limits.max_header_bytes``;
- the request target and all headers together at most eight times that, counted
  as they arrive, so a header line that never ends is refused too.

A head past either bound answers 431 with a ``detail`` and the connection closes.

Without httptools, h11 is used with the same bound on the whole head.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, ClassVar

from uno.jobs.limits import Limits

if TYPE_CHECKING:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Protocol
else:
    _Protocol = object  # the real base comes after ``HeadBounds`` in the MRO

#: The request line and all headers together may take this many header lines' worth.
HEAD_LINES = 8


def head_bytes(limits: Limits) -> int:
    """The most bytes a request line and its headers may take together."""
    return HEAD_LINES * limits.max_header_bytes


class HeadBounds(_Protocol):
    """What ``bounded_protocol`` adds to HttpToolsProtocol: a request head past the
    bounds is refused with a 431. Mixed in before it, so ``super()`` is the parser's."""

    max_line_bytes: ClassVar[int]
    max_head_bytes: ClassVar[int]
    #: Bytes of the unfinished head received so far; ``None`` outside a head.
    _head_bytes: int | None = None
    #: Bytes of the head's target and headers the parser handed over so far.
    _parsed = 0
    _heads_begun = 0
    #: Why the current head is refused, once it is.
    _refusal: str | None = None

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._parsed = 0
        self._heads_begun += 1

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) > self.max_line_bytes:
            self._refuse(f"A header line is longer than {self.max_line_bytes} bytes")
        self._count(len(name) + len(value) + 4)  # with ": " and the line break
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        began, heads_begun = self._head_bytes is not None, self._heads_begun
        super().data_received(data)
        # The parser holds an unfinished header line to itself, so the bytes of
        # an unfinished head are counted here too. A chunk counts when the same
        # head was unfinished before and after it: then every byte of it was
        # head. The chunk a head begins in is left to the parser's count.
        if began and self._head_bytes is not None and self._heads_begun == heads_begun:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refusal = self._too_large()
                self.send_400_response(self._refusal)

    def _count(self, size: int) -> None:
        self._parsed += size
        if self._parsed > self.max_head_bytes:
            self._refuse(self._too_large())

    def _too_large(self) -> str:
        return f"Request line and headers are larger than {self.max_head_bytes} bytes"

    def _refuse(self, detail: str) -> None:
        """Stop the parser; uvicorn then answers through ``send_400_response``."""
        self._refusal = detail
        raise ValueError(detail)

    def send_400_response(self, msg: str) -> None:
        if self._refusal is None:
            super().send_400_response(msg)
            return
        self.logger.warning("Refused a request head: %s", self._refusal)
        body = json.dumps({"detail": self._refusal}).encode()
        self._refusal = self._head_bytes = None
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
        )
        self.transport.close()


def bounded_protocol(limits: Limits) -> type[asyncio.Protocol] | None:
    """uvicorn's httptools protocol bounded by ``limits``; ``None`` without httptools."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - uvicorn without its [standard] extras
        return None
    bounds = {"max_line_bytes": limits.max_header_bytes, "max_head_bytes": head_bytes(limits)}
    return type("BoundedHttpToolsProtocol", (HeadBounds, HttpToolsProtocol), bounds)
