"""The operator console in a real browser (Debian's Chromium driven by Playwright)
against a real ``uno-jobs serve`` with its embedded worker: the acceptance steps of
issue #14, with every outside request blocked (the console and /docs work offline).

The run saves screenshots of the main pages, at desktop and phone (390 px) width,
into docs/screenshots/.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from processes import clean_env, free_port, wait_until_ready
from uno.jobs.jobs import Job
from uno.jobs.store.sqlite import SQLiteStore

playwright_sync = pytest.importorskip("playwright.sync_api")
Page = playwright_sync.Page
expect = playwright_sync.expect

pytestmark = pytest.mark.slow
UNO_JOBS = str(Path(sys.executable).parent / "uno-jobs")
CHROMIUM = os.environ.get("UNO_JOBS_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
HERE = Path(__file__).resolve().parent
START_TIMEOUT = 30.0
#: The en dash of the page range and the arrow of the next-page link, as the console writes them.
DASH, NEXT = "\u2013", "\u203a"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def skip_or_fail(reason: str) -> None:
    """As the suite's helper (tests/conftest.py): skip locally, fail in CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)")
    pytest.skip(reason)


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    token: str
    env: dict[str, str]
    tmp: Path
    output: list[str] = field(default_factory=list)

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30,
        )

    def token_with(self, scope: str) -> str:
        done = subprocess.run(
            [UNO_JOBS, "token", "--sub", "viewer", "--scope", scope],
            env=self.env, cwd=self.tmp, capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return done.stdout.strip().splitlines()[-1].strip()


def _admin_token(lines: queue.Queue[str], process: subprocess.Popen[str], output: list[str]) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0 and process.poll() is None, "".join(output)
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line.startswith("Admin token"):  # stdout is no terminal: the token is in a file
            return Path(line.split(" written to ", 1)[1].strip()).read_text().strip()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("console")
    env = clean_env(
        UNO_JOBS_DATA_DIR=str(tmp / "data"),
        UNO_JOBS_DATABASE_URL=f"sqlite:///{tmp / 'jobs.db'}",
        UNO_JOBS_SHUTDOWN_GRACE="2",
        UNO_JOBS_HEARTBEAT_INTERVAL="1",  # the per-worker charts move with the heartbeats
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    )
    port = free_port()
    process = subprocess.Popen(
        [UNO_JOBS, "serve", "--app", "console_app", "--port", str(port), "--concurrency", "4"],
        env=env, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    pumping = threading.Thread(target=pump, daemon=True)
    pumping.start()
    token = _admin_token(lines, process, output)
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(url, process, lambda: "".join(output), START_TIMEOUT)
    yield Server(process, url, token, env, tmp, output)
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    finally:
        pumping.join(10)  # the pipe ends with the process; read it out before closing
        assert process.stdout is not None
        process.stdout.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@dataclass
class Console:
    """A browser page signed in to the console; collects console errors and blocks
    every request that leaves the server (no CDN may be needed)."""

    page: Any
    server: Server
    errors: list[str]
    blocked: list[str]

    def open(self, query: str = "") -> None:
        self.page.goto(f"{self.server.url}/dashboard{query}")

    def confirm(self, expected: str) -> None:
        dialog = self.page.locator("#confirm")
        expect(dialog).to_be_visible()
        expect(dialog.locator("#confirm-text")).to_contain_text(expected)
        dialog.locator("#confirm-ok").click()
        expect(dialog).to_be_hidden()

    def message(self) -> Any:
        return self.page.locator("#message")


@pytest.fixture
def console(browser: Any, server: Server) -> Iterator[Callable[..., Console]]:
    contexts: list[Any] = []

    def make(token: str | None = None, viewport: dict[str, int] = DESKTOP) -> Console:
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        errors: list[str] = []
        blocked: list[str] = []
        host = urlsplit(server.url).netloc

        def route(request_route: Any) -> None:
            if urlsplit(request_route.request.url).netloc == host:
                request_route.continue_()
            else:
                blocked.append(request_route.request.url)
                request_route.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on(
            "console",
            lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.url}/dashboard#token={token or server.token}")
        expect(page.locator("#who")).not_to_be_empty()
        return Console(page, server, errors, blocked)

    yield make
    for context in contexts:
        context.close()


def enqueue(server: Server, **body: Any) -> str:
    with server.client() as client:
        answer = client.post("/api/v1/jobs", json={"args": [], "kwargs": {}, **body})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])


def wait_job(server: Server, job_id: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    with server.client() as client:
        while True:
            job = client.get(f"/api/v1/jobs/{job_id}").json()
            if done(job):
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.05)


def finished(job: dict[str, Any]) -> bool:
    return job["status"] in {"completed", "failed", "cancelled", "timeout"}


def test_console_and_docs_pages_load_offline_without_errors(
    console: Callable[..., Console], server: Server
) -> None:
    c = console()
    response = c.page.goto(f"{server.url}/dashboard")
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert (
        "unsafe-inline"
        not in headers["content-security-policy"].split("script-src")[1].split(";")[0]
    )
    assert headers["x-content-type-options"] == "nosniff"
    for view, heading in [("overview", "Overview"), ("jobs", "Jobs"), ("queues", "Queues"),
                          ("schedules", "Schedules"), ("tasks", "Tasks")]:  # fmt: skip
        c.open(f"?view={view}")
        expect(c.page.locator("main h1")).to_have_text(heading)
        expect(c.page.locator("#updated")).not_to_have_text("never")
    expect(c.page.locator("main")).to_contain_text("fail_until")
    c.page.goto(f"{server.url}/docs")
    expect(c.page.locator(".opblock").first).to_be_visible()
    assert c.page.locator(".opblock").count() > 20
    expect(c.page.locator("body")).to_contain_text("/api/v1/jobs/bulk-retry")
    assert c.errors == [] and c.blocked == []


def test_jobs_filter_and_paging_live_in_the_url(
    console: Callable[..., Console], server: Server
) -> None:
    ids = [enqueue(server, task_name="echo", queue_name="browse", args=[i]) for i in range(30)]
    wait_job(server, ids[-1], finished)
    c = console()
    c.open("?view=jobs")
    form = c.page.locator("#job-filters")
    form.locator("input[name=status][value=completed]").check()
    form.locator("input[name=queue_name]").fill("browse")
    form.locator("button[type=submit]").click()
    expect(c.page).to_have_url(
        re.compile(r"status=completed.*queue_name=browse|queue_name=browse.*status=completed")
    )
    expect(c.page.locator("#page-range")).to_have_text(f"1{DASH}25 of 30")
    c.page.get_by_role("link", name=f"Next {NEXT}").click()
    expect(c.page.locator("#page-range")).to_have_text(f"26{DASH}30 of 30")
    expect(c.page).to_have_url(re.compile(r"offset=25"))
    c.page.reload()
    expect(c.page.locator("#page-range")).to_have_text(f"26{DASH}30 of 30")
    expect(c.page.locator("#job-filters input[name=queue_name]")).to_have_value("browse")
    c.page.go_back()
    expect(c.page.locator("#page-range")).to_have_text(f"1{DASH}25 of 30")
    expect(c.page.locator("main [data-status=completed]").first).to_be_visible()
    assert c.errors == []


def test_a_failed_job_shows_its_traceback_and_completes_when_retried(
    console: Callable[..., Console], server: Server
) -> None:
    marker = server.tmp / "let-it-pass"
    job_id = enqueue(server, task_name="fail_until", args=[str(marker)])
    wait_job(server, job_id, finished)
    c = console()
    c.open(f"?view=job&id={job_id}")
    expect(c.page.locator("[data-status=failed]").first).to_be_visible()
    expect(c.page.locator("#traceback")).to_contain_text("does not exist yet")
    expect(c.page.locator("#traceback")).to_contain_text("Traceback")
    marker.write_text("go")
    c.page.locator("#retry-job").click()
    c.confirm(f"Retry job {job_id}")
    expect(c.message()).to_contain_text("pending")
    expect(c.page.locator("main [data-status=completed]").first).to_be_visible()
    assert wait_job(server, job_id, finished)["result"] == "done"
    assert c.errors == []


def test_a_job_whose_task_no_worker_has_says_so(
    console: Callable[..., Console], server: Server
) -> None:
    # The API refuses a task it does not know; a job from another app's producer can
    # still name one, so it is written to the store directly.
    now = datetime.now(UTC)
    job = Job(task_name="reports.monthly", version="2", created_at=now, scheduled_at=now)

    async def insert() -> None:
        store = SQLiteStore(server.env["UNO_JOBS_DATABASE_URL"])
        await store.open()
        try:
            await store.insert_jobs([job])
        finally:
            await store.close()

    c = console()  # Playwright's loop runs in this thread: the insert runs in another
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, insert()).result(30)
    c.open(f"?view=job&id={job.id}")
    reason = c.page.locator("#wait-reasons [data-code=no_task_worker]")
    expect(reason).to_contain_text("No live worker has task 'reports.monthly' (version '2')")
    assert c.errors == []


def test_the_overview_charts_each_worker_s_attempts(
    console: Callable[..., Console], server: Server
) -> None:
    ids = [enqueue(server, task_name="echo", queue_name="charted", args=[i]) for i in range(5)]
    for job_id in ids:
        wait_job(server, job_id, finished)
    c = console()
    c.open("?view=overview")
    chart = c.page.locator("#overview-worker-charts [data-worker]").first
    expect(chart.locator("svg.chart")).to_be_visible()
    # Drawn from the heartbeats' counts: the next beats and polls bring the jobs in.
    done = chart.locator("polyline[data-series=completed]:not([data-total='0'])")
    expect(done).to_be_visible(timeout=20_000)
    assert int(done.get_attribute("data-total") or 0) >= 5
    assert c.errors == []


def test_cancel_a_running_sleep_job(console: Callable[..., Console], server: Server) -> None:
    job_id = enqueue(server, task_name="sleep", args=[30])
    wait_job(server, job_id, lambda j: j["status"] == "running")
    c = console()
    c.open(f"?view=job&id={job_id}")
    c.page.locator("#cancel-job").click()
    c.confirm("while it runs")
    expect(c.page.locator("main [data-status=cancelled]").first).to_be_visible()
    assert wait_job(server, job_id, finished)["status"] == "cancelled"
    assert c.errors == []


def test_bulk_retry_of_the_failed_jobs_of_a_queue(
    console: Callable[..., Console], server: Server
) -> None:
    ids = [
        enqueue(server, task_name="fail", queue_name="bulkq", args=[f"boom {i}"]) for i in range(3)
    ]
    before = {i: wait_job(server, i, finished)["completed_at"] for i in ids}
    c = console()
    c.open("?view=jobs&queue_name=bulkq&status=failed")
    expect(c.page.locator("#page-range")).to_have_text(f"1{DASH}3 of 3")
    c.page.locator("#bulk-retry").click()
    c.confirm("Retry 3 jobs matching this filter?")
    expect(c.message()).to_have_text("Retried 3 jobs.")
    for job_id in ids:  # each ran again (and failed again: it always does)
        wait_job(server, job_id, lambda j, b=before[job_id]: finished(j) and j["completed_at"] != b)
    assert c.errors == []


def test_pause_and_resume_a_queue(console: Callable[..., Console], server: Server) -> None:
    enqueue(server, task_name="echo", queue_name="pausable")
    c = console()
    c.open("?view=queues")
    row = c.page.locator("tr", has=c.page.locator("[data-queue=pausable]"))
    row.locator("[data-action=pause]").click()
    c.confirm("Pause queue pausable?")
    expect(row.locator("[data-status=paused]")).to_be_visible()
    with server.client() as client:
        queues = {q["name"]: q for q in client.get("/api/v1/queues").json()["items"]}
        assert queues["pausable"]["is_paused"] is True
    row.locator("[data-action=resume]").click()
    c.confirm("Resume queue pausable?")
    expect(row.locator("[data-status=active]")).to_be_visible()
    with server.client() as client:
        queues = {q["name"]: q for q in client.get("/api/v1/queues").json()["items"]}
        assert queues["pausable"]["is_paused"] is False
    assert c.errors == []


def test_create_pause_and_run_a_schedule(console: Callable[..., Console], server: Server) -> None:
    c = console()
    c.open("?view=schedules")
    c.page.locator("#new-schedule").click()
    form = c.page.locator("#schedule-form")
    form.locator("input[name=name]").fill("hourly-echo")
    form.locator("select[name=task_name]").select_option("echo")
    form.locator("select[name=kind]").select_option("interval")
    form.locator("input[name=interval]").fill("3600")
    form.locator("textarea[name=args]").fill('["from the console"]')
    form.locator("button[type=submit]").click()
    expect(c.message()).to_have_text("Schedule created.")
    row = c.page.locator("tr", has=c.page.locator("[data-schedule=hourly-echo]"))
    expect(row.locator("[data-status=active]")).to_be_visible()
    row.locator("[data-action=pause]").click()
    c.confirm("Pause schedule hourly-echo?")
    expect(row.locator("[data-status=paused]")).to_be_visible()
    row.locator("[data-action=run]").click()
    c.confirm("Enqueue one echo job")
    expect(c.message()).to_contain_text("Enqueued job")
    job_id = c.message().inner_text().removeprefix("Enqueued job ").rstrip(".")
    job = wait_job(server, job_id, finished)
    assert job["status"] == "completed" and job["args"] == ["from the console"]
    with server.client() as client:
        schedules = client.get("/api/v1/schedules").json()["items"]
    assert [s["status"] for s in schedules if s["name"] == "hourly-echo"] == ["paused"]
    assert job["metadata"]["schedule_id"] == schedules[0]["id"] or any(
        s["id"] == job["metadata"]["schedule_id"] for s in schedules
    )
    assert c.errors == []


def test_a_read_only_token_sees_no_action_buttons(
    console: Callable[..., Console], server: Server
) -> None:
    failed = enqueue(server, task_name="fail", queue_name="readonly")
    wait_job(server, failed, finished)
    c = console(server.token_with("jobs:read"))
    expect(c.page.locator("#who")).to_contain_text("jobs:read")
    c.open("?view=jobs")
    expect(c.page.locator("#page-range")).to_be_visible()
    assert c.page.locator("#bulk-retry, #bulk-cancel").count() == 0
    c.open(f"?view=job&id={failed}")
    expect(c.page.locator("#traceback")).to_be_visible()
    assert c.page.locator("#job-actions button").count() == 0
    c.open("?view=queues")
    expect(c.page.locator("[data-queue=readonly]")).to_be_visible()
    assert c.page.locator("[data-action]").count() == 0
    c.open("?view=schedules")
    expect(c.page.locator("main h1")).to_have_text("Schedules")
    assert c.page.locator("#new-schedule, [data-action]").count() == 0
    assert c.errors == []


@pytest.mark.parametrize(("name", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_screenshots_of_the_main_pages(
    console: Callable[..., Console], server: Server, name: str, viewport: dict[str, int]
) -> None:
    failed = enqueue(server, task_name="fail", queue_name="reports", args=["disk full"])
    wait_job(server, failed, finished)
    c = console(viewport=viewport)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for page_name, query, ready in [
        ("overview", "?view=overview", "#overview-chart svg"),
        ("jobs", "?view=jobs", "#page-range"),
        ("job-failed", f"?view=job&id={failed}", "#traceback"),
        ("queues", "?view=queues", "#queues-list table"),
        ("schedules", "?view=schedules", "main h1"),
    ]:
        c.open(query)
        expect(c.page.locator(ready)).to_be_visible()
        width = c.page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"] + 1, f"{page_name} overflows at {viewport['width']} px"
        c.page.screenshot(path=str(SCREENSHOTS / f"{page_name}-{name}.png"), full_page=True)
    assert c.errors == []
