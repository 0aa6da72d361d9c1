"""The route class of the Jobs API: admission first, then the handler, errors mapped.

``JobsRoute`` admits a request (token and body size, see ``uno.jobs.api.admission``)
before anything reads its body, then lets FastAPI's handler answer, turning the
domain's errors and store faults into their mapped status and ``detail``
(``uno.jobs.api.errors``). It works on a bare ``APIRouter`` too, so routers mounted
into another app with ``register_jobs_endpoints`` behave the same.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from uno.jobs.api.admission import Admission, admission_of
from uno.jobs.api.errors import answer, mapped_error, unhandled_error


class JobsRoute(APIRoute):
    """An APIRoute that admits a request before reading its body, and whose domain
    errors and store faults answer with their mapped status and a detail."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await answer(request, functools.partial(handler, request), self.name)

        return handle

    @functools.cached_property
    def admission(self) -> Admission | None:
        return admission_of(self.dependencies)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        ours = scope["type"] == "http" and scope["method"] in (self.methods or ())
        if not ours or self.admission is None:
            await super().handle(scope, receive, send)
            return
        try:
            receive = await self.admission.admit(scope, receive)
        except HTTPException:
            raise  # the app's handler words it, as it words FastAPI's own
        except Exception as exc:
            refused = mapped_error(exc, self.name) or await unhandled_error(
                Request(scope, receive, send), exc
            )
            await refused(scope, receive, send)
            return
        await self.serve_admitted(scope, receive, send)

    async def serve_admitted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a request admission let through: FastAPI's handler (see ``fast_path``)."""
        await super().handle(scope, receive, send)
