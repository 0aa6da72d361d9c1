"""Serving the operator console and the offline API docs, with security headers.

``/dashboard`` is one static page; its script and styles come from
``/dashboard/static/`` (files of this package, listed once at start-up, so no
request path ever reaches the file system). ``/docs`` is Swagger UI from the
vendored ``swagger-ui-dist`` (see ``static/vendor/swagger-ui/VENDORED.md``): no CDN.

Every response carries a Content-Security-Policy without inline scripts,
``frame-ancestors 'none'`` (no clickjacking of the action buttons) and
``X-Content-Type-Options: nosniff``. The pages hold no data and need no token:
their scripts call the API with the token the user pastes.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response

SWAGGER_UI_VERSION = "5.35.0"

#: The console's own pages: scripts and styles only from this server.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: Swagger UI sets style attributes from its script, so inline styles are allowed
#: there; scripts still come only from this server.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}


def security_headers(csp: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }


def _package_files() -> dict[str, Traversable]:
    """Every file under ``static/``, by its path relative to it."""
    found: dict[str, Traversable] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif entry.name.rsplit(".", 1)[-1] in {t.lstrip(".") for t in _TYPES}:
                found[prefix + entry.name] = entry

    walk(resources.files("uno.jobs.dashboard").joinpath("static"), "")
    return found


def _page(name: str) -> str:
    return resources.files("uno.jobs.dashboard").joinpath(name).read_text(encoding="utf-8")


def add_console(app: FastAPI, *, docs: bool = True) -> None:
    """Add ``/dashboard``, its static files and (with ``docs``) an offline ``/docs``
    to ``app``, whose own ``docs_url`` must be None."""
    files = _package_files()
    console_headers = security_headers(CONSOLE_CSP)

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        """The page holds no data: its script calls the API with a pasted token."""
        return HTMLResponse(_page("index.html"), headers=console_headers)

    @app.get("/dashboard/static/{path:path}", include_in_schema=False)
    async def dashboard_static(path: str) -> Response:
        entry = files.get(path)
        if entry is None:
            raise HTTPException(404, detail=f"No console file {path!r}")
        suffix = "." + path.rsplit(".", 1)[-1]
        headers = {**console_headers, "Cache-Control": "no-cache"}
        return Response(entry.read_bytes(), media_type=_TYPES[suffix], headers=headers)

    if docs:

        @app.get("/docs", include_in_schema=False)
        async def api_docs() -> HTMLResponse:
            """Swagger UI for ``/openapi.json``, from files this package ships."""
            return HTMLResponse(_page("docs.html"), headers=security_headers(DOCS_CSP))
