"""The console's pages as the server sends them: security headers, only packaged
files under /dashboard/static, and /docs from the vendored Swagger UI (no CDN)."""

from __future__ import annotations

import re

import httpx

from api.conftest import app, client, clients, system, token, worker_enabled

__all__ = ["app", "client", "clients", "system", "token", "worker_enabled"]


async def test_console_pages_carry_the_security_headers(client: httpx.AsyncClient) -> None:
    for path in ("/dashboard", "/dashboard/static/console.js", "/docs"):
        answer = await client.get(path)
        assert answer.status_code == 200, path
        csp = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        script_src = re.search(r"script-src ([^;]*)", csp)
        assert script_src is not None and script_src.group(1).strip() == "'self'"
        assert answer.headers["x-content-type-options"] == "nosniff"


async def test_pages_hold_no_inline_script_and_load_nothing_from_elsewhere(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/dashboard", "/docs"):
        page = (await client.get(path)).text
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page) is None, path
        assert "http://" not in page and "https://" not in page, path
    bundle = await client.get("/dashboard/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert (await client.get("/redoc")).status_code == 404  # no offline copy, so no page


async def test_only_packaged_files_are_served(client: httpx.AsyncClient) -> None:
    for path in (
        "/dashboard/static/../pages.py",
        "/dashboard/static/%2e%2e/pages.py",
        "/dashboard/static/nope.js",
        "/dashboard/static/vendor/swagger-ui/swagger-ui-bundle.js.map",
    ):
        answer = await client.get(path)
        assert answer.status_code == 404, path
