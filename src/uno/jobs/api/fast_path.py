"""The fast path of the two busiest routes: their input read without FastAPI.

FastAPI spends most of a small request's time solving dependencies (the token
guard, the system, the query parameters or the body) before the route's
handler runs; for ``GET`` and ``POST /api/v1/jobs``, more than the handler and
the store together. A route built with ``fast_route`` reads its input itself,
with the same pydantic model FastAPI validates it with, and calls the same
handler the FastAPI endpoint calls. There is one handler per route; only the
reading of its input has two ways.

The fast path answers only what it is sure of: a query or a JSON body that the
model accepts as it stands, on a route whose only dependency is its admission
(``uno.jobs.api.admission``, which has checked the token and bounds the body
already: ``register_jobs_endpoints`` uses ``fast_route`` only on a FastAPI app
with no dependencies of its own), in an app without dependency overrides. Anything else (a body that
does not validate, a parameter given twice, a dependency of the user's) goes to
FastAPI, which words every error as on any route. A body the fast path read is
handed back to FastAPI through the ``receive`` it gets.

Relies on Starlette's ``Request`` and route ``handle`` only; the floor is declared
in pyproject.toml. ``tests/api/test_api_fast_path.py`` checks that both ways
answer alike.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

import pydantic
from fastapi import Request, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from uno.jobs.api.errors import answer
from uno.jobs.api.route import JobsRoute
from uno.jobs.system import JobSystem

Model = TypeVar("Model", bound=BaseModel)
#: The route's handler: the job system and the validated input give the response.
Handler = Callable[[JobSystem, Any], Awaitable[Response]]


class FastRoute(JobsRoute):
    """A JobsRoute that reads its input itself when it can (see the module)."""

    #: The model of the route's input and where it comes from.
    input_model: ClassVar[type[BaseModel]]
    from_body: ClassVar[bool]
    handler: ClassVar[Handler]

    async def serve_admitted(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.admission is None or getattr(scope.get("app"), "dependency_overrides", None):
            await super().serve_admitted(scope, receive, send)
            return
        request = Request(scope, receive, send)
        if self.from_body:
            value, receive = await _read_json(request, self.input_model)
        else:
            value = _read_query(request, self.input_model)
        if value is None:
            await super().serve_admitted(scope, receive, send)
            return
        response = await answer(request, functools.partial(self._call, value), self.name)
        await response(scope, receive, send)

    async def _call(self, value: BaseModel) -> Response:
        assert self.admission is not None
        system = await self.admission.provider()
        return await type(self).handler(system, value)


def fast_route(model: type[BaseModel], handler: Handler, *, body: bool) -> type[FastRoute]:
    """The route class of a route whose ``handler`` takes ``model`` from the query
    string (or, with ``body``, from the JSON body): pass it as ``route_class_override``."""
    attributes = {"input_model": model, "from_body": body, "handler": staticmethod(handler)}
    return type(f"FastRoute_{model.__name__}", (FastRoute,), attributes)


async def _read_json(request: Request, model: type[Model]) -> tuple[Model | None, Receive]:
    """The body as ``model``, or ``None``; and the ``receive`` FastAPI is to read it from."""
    content_type = request.headers.get("content-type", "")
    if content_type.partition(";")[0].strip().lower() != "application/json":
        return None, request.receive
    try:
        body = await request.body()
    except HTTPException:
        raise  # over the limit: 413
    except Exception:
        return None, request.receive  # the client went: FastAPI words it
    try:
        value = model.model_validate_json(body)
    except pydantic.ValidationError:
        value = None
    return value, _replaying(body, request.receive)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` that gives ``body`` first: the request as if it were unread."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _read_query(request: Request, model: type[Model]) -> Model | None:
    """The query string as ``model``, or ``None``; a list field may repeat, no other."""
    lists = _list_fields(model)
    values: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in lists:
            values.setdefault(key, []).append(value)
        elif key in values:
            return None
        else:
            values[key] = value
    try:
        return model.model_validate(values)
    except pydantic.ValidationError:
        return None


@functools.cache
def _list_fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(
        name for name, field in model.model_fields.items() if _is_list(field.annotation)
    )


def _is_list(annotation: Any) -> bool:
    """``list[X]`` or an optional one."""
    if typing.get_origin(annotation) is list:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return False
