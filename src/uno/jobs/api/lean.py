"""Lean handlers: the happy path of the busiest endpoints without FastAPI's per-request work.

FastAPI spends most of a small request's time solving dependencies, parsing
and validating the body and validating the response again before encoding it.
A lean handler does the same work directly: the same pydantic models validate
the input, the same guard checks the token, and the view is encoded once.

A lean handler answers only the requests it is sure about. It returns ``None``
for anything else (a body that is not JSON or does not fit the model, a query
it does not read, overridden dependencies) and the route's FastAPI handler
answers instead, so every error keeps the exact status and ``detail`` FastAPI
gives it. The route's declaration is unchanged, and with it the OpenAPI document.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import HTTPException, Request, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.types import Message, Receive, Scope

#: Reads a request and answers it, or returns ``None`` to leave it to FastAPI.
LeanHandler = Callable[[Request], Awaitable[Response | None]]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
Model = TypeVar("Model", bound=BaseModel)

_ATTRIBUTE = "__uno_jobs_lean__"
#: Where ``read_body`` keeps the body for FastAPI's handler, should it answer instead.
_BODY_KEY = "uno.jobs.lean_body"


def serve_lean(handler: LeanHandler | None) -> Callable[[Endpoint], Endpoint]:
    """Mark an endpoint as answered by ``handler`` when it can (``None``: never).

    Place it under the route decorator, so the route sees the mark when it is built.
    """

    def mark(endpoint: Endpoint) -> Endpoint:
        if handler is not None:
            setattr(endpoint, _ATTRIBUTE, handler)
        return endpoint

    return mark


def lean_handler_of(endpoint: Callable[..., Any]) -> LeanHandler | None:
    """The lean handler ``serve_lean`` attached to ``endpoint``, if any."""
    handler: LeanHandler | None = getattr(endpoint, _ATTRIBUTE, None)
    return handler


def may_serve_lean(scope: Scope) -> bool:
    """False when the app overrides dependencies or limits body sizes: FastAPI's way then."""
    return MAX_BODY_SIZE_SCOPE_KEY not in scope and not getattr(
        scope.get("app"), "dependency_overrides", None
    )


def replay_body(request: Request, receive: Receive) -> Receive:
    """``receive`` for FastAPI's handler, giving back first the body ``request`` read."""
    body: bytes | None = request.scope.pop(_BODY_KEY, None)
    if body is None:
        return receive
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def read_body(request: Request, model: type[Model]) -> Model | None:
    """The JSON body as ``model``; ``None`` when FastAPI should word what is wrong.

    Mirrors FastAPI: a JSON content type, ``json.loads`` and validation of the
    decoded value, so exactly the bodies FastAPI accepts are accepted here.
    """
    content_type = request.headers.get("content-type")
    if content_type is None or content_type.partition(";")[0].strip().lower() != (
        "application/json"
    ):
        return None
    try:
        body = await request.body()
    except StarletteHTTPException:
        raise
    except Exception as exc:
        raise HTTPException(400, detail="There was an error parsing the body") from exc
    request.scope[_BODY_KEY] = body
    if not body:
        return None
    try:
        return model.model_validate(json.loads(body))
    except Exception:
        return None


def read_query(
    request: Request, model: type[Model], repeated: frozenset[str] = frozenset()
) -> Model | None:
    """The query string as ``model``; ``None`` when FastAPI should word what is wrong.

    Parameters named in ``repeated`` are lists; a parameter of one value given
    twice is left to FastAPI, and so is every query the model refuses.
    """
    values: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in repeated:
            values.setdefault(key, []).append(value)
        elif key in values:
            return None
        else:
            values[key] = value
    try:
        return model.model_validate(values)
    except Exception:
        return None


def json_response(view: BaseModel, status_code: int = 200) -> Response:
    """``view`` encoded once, as FastAPI encodes a ``response_model``."""
    return Response(view.model_dump_json(), status_code, media_type="application/json")
