"""Schedule endpoints: create (cron or interval), get, list, update, delete, pause, resume,
run now."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from helpers_api import SEED_CRON_SCHEDULE, SEED_INTERVAL_SCHEDULE, SEED_UPDATE_SCHEDULE

SCHEDULES = "/api/v1/schedules"
#: Args nested one level deeper than the default limit (64) allows.
DEEP: Any = []
for _ in range(64):
    DEEP = [DEEP]


async def create(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(SCHEDULES, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_the_seed_cron_schedule(client: httpx.AsyncClient) -> None:
    schedule = await create(client, SEED_CRON_SCHEDULE)
    for field, value in SEED_CRON_SCHEDULE.items():
        assert schedule[field] == value, field
    assert schedule["status"] == "active"
    assert schedule["interval"] is None
    assert schedule["next_run_at"].endswith("T00:00:00Z")
    assert schedule["last_run_at"] is None
    assert schedule["created_at"] == schedule["updated_at"]


async def test_create_the_seed_interval_schedule(client: httpx.AsyncClient) -> None:
    schedule = await create(client, SEED_INTERVAL_SCHEDULE)
    assert schedule["interval"] == {"hours": 1, "minutes": 0, "seconds": 0, "days": 0}
    assert schedule["cron_expression"] is None
    assert (schedule["priority"], schedule["max_retries"], schedule["retry_delay"]) == (
        "low",
        1,
        30,
    )
    assert schedule["next_run_at"] is not None


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"interval": {"minutes": 5}}, 422),  # both rules
        ({"cron_expression": None}, 422),  # neither
        ({"cron_expression": "every day"}, 400),
        ({"cron_expression": "0 0 * * * * *"}, 400),
        ({"task_name": "nope"}, 400),
        ({"version": "9.9"}, 400),
        ({"timezone": "Mars/Olympus"}, 400),
        ({"priority": "urgent"}, 422),
        ({"name": ""}, 400),
        ({"max_retries": -1}, 400),
        ({"queue_name": ""}, 400),
        ({"retry_delay": -1}, 400),
        ({"timeout": 0}, 400),
        ({"max_retries": 10_001}, 400),
        ({"retry_delay": 1e12}, 400),
        ({"timeout": 1e12}, 400),
        ({"tags": ["\x00"]}, 400),
        ({"args": [DEEP]}, 400),
    ],
)
async def test_invalid_schedules_are_refused_with_a_detail(
    client: httpx.AsyncClient, changes: dict[str, Any], status: int
) -> None:
    response = await client.post(SCHEDULES, json={**SEED_CRON_SCHEDULE, **changes})
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail
    if status == 400:
        assert detail.startswith("Failed to create schedule: ")


async def test_views_report_the_retries_its_jobs_get(client: httpx.AsyncClient) -> None:
    """Unset in the schedule: the task's defaults (generate_report: 2 retries, 120 s)."""
    body = {k: v for k, v in SEED_CRON_SCHEDULE.items() if k not in ("max_retries", "retry_delay")}
    schedule = await create(client, body)
    assert (schedule["max_retries"], schedule["retry_delay"]) == (2, 120)
    fetched = (await client.get(f"{SCHEDULES}/{schedule['id']}")).json()
    assert (fetched["max_retries"], fetched["retry_delay"]) == (2, 120)
    listed = (await client.get(SCHEDULES)).json()["items"]
    assert [(s["max_retries"], s["retry_delay"]) for s in listed] == [(2, 120)]
    own = await create(client, {**body, "max_retries": 0, "retry_delay": 1.5})
    assert (own["max_retries"], own["retry_delay"]) == (0, 1.5)


async def test_zero_interval_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        SCHEDULES, json={**SEED_INTERVAL_SCHEDULE, "interval": {"seconds": 0}}
    )
    assert response.status_code == 400
    assert "interval" in response.json()["detail"]


async def test_get_and_404(client: httpx.AsyncClient) -> None:
    schedule = await create(client, SEED_CRON_SCHEDULE)
    response = await client.get(f"{SCHEDULES}/{schedule['id']}")
    assert response.status_code == 200
    assert response.json() == schedule
    missing = await client.get(f"{SCHEDULES}/nope")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Schedule not found: nope"}


async def test_update_with_the_seed_body(client: httpx.AsyncClient) -> None:
    schedule = await create(client, SEED_CRON_SCHEDULE)
    response = await client.put(f"{SCHEDULES}/{schedule['id']}", json=SEED_UPDATE_SCHEDULE)
    assert response.status_code == 200, response.text
    updated = response.json()
    for field, value in SEED_UPDATE_SCHEDULE.items():
        assert updated[field] == value, field
    assert updated["queue_name"] == "reports"  # left out, so kept
    assert updated["next_run_at"].endswith("T01:00:00Z")


async def test_update_switches_between_cron_and_interval(client: httpx.AsyncClient) -> None:
    schedule = await create(client, SEED_CRON_SCHEDULE)
    url = f"{SCHEDULES}/{schedule['id']}"
    to_interval = (await client.put(url, json={"interval": {"minutes": 15}})).json()
    assert to_interval["cron_expression"] is None
    assert to_interval["interval"] == {"seconds": 0, "minutes": 15, "hours": 0, "days": 0}
    to_cron = (await client.put(url, json={"cron_expression": "0 9 * * 1-5"})).json()
    assert (to_cron["cron_expression"], to_cron["interval"]) == ("0 9 * * 1-5", None)


async def test_update_errors(client: httpx.AsyncClient) -> None:
    schedule = await create(client, SEED_CRON_SCHEDULE)
    url = f"{SCHEDULES}/{schedule['id']}"
    assert (await client.put(f"{SCHEDULES}/nope", json={"name": "x"})).status_code == 404
    bad_cron = await client.put(url, json={"cron_expression": "61 * * * *"})
    assert bad_cron.status_code == 400
    assert bad_cron.json()["detail"].startswith("Failed to update schedule: ")
    both = await client.put(url, json={"cron_expression": "0 * * * *", "interval": {"hours": 1}})
    assert both.status_code == 422
    assert (await client.put(url, json={"status": "sleeping"})).status_code == 422


async def test_pause_resume_and_status_in_update(client: httpx.AsyncClient) -> None:
    schedule = await create(client, SEED_INTERVAL_SCHEDULE)
    url = f"{SCHEDULES}/{schedule['id']}"
    paused = await client.post(f"{url}/pause")
    assert paused.status_code == 200
    assert (paused.json()["status"], paused.json()["next_run_at"]) == ("paused", None)
    resumed = await client.post(f"{url}/resume")
    assert (resumed.json()["status"], resumed.status_code) == ("active", 200)
    assert resumed.json()["next_run_at"] is not None
    via_update = await client.put(url, json={"status": "paused"})
    assert via_update.json()["status"] == "paused"
    for action in ("pause", "resume"):
        assert (await client.post(f"{SCHEDULES}/nope/{action}")).status_code == 404


async def test_run_now_enqueues_the_schedule_s_job_and_leaves_its_next_run(
    client: httpx.AsyncClient,
) -> None:
    schedule = await create(client, SEED_INTERVAL_SCHEDULE)
    url = f"{SCHEDULES}/{schedule['id']}"
    assert (await client.post(f"{url}/pause")).status_code == 200
    ran = await client.post(f"{url}/run")
    assert ran.status_code == 201, ran.text
    job = ran.json()
    assert (job["task_name"], job["args"], job["status"]) == (
        schedule["task_name"], schedule["args"], "pending",
    )  # fmt: skip
    assert job["metadata"] == {
        **schedule["metadata"], "schedule_id": schedule["id"],
        "schedule_name": schedule["name"], "run_now": True,
    }  # fmt: skip
    after = (await client.get(url)).json()
    assert (after["status"], after["next_run_at"]) == ("paused", None)
    assert (await client.post(f"{SCHEDULES}/nope/run")).status_code == 404


async def test_delete_is_204_then_404(client: httpx.AsyncClient) -> None:
    schedule = await create(client, SEED_CRON_SCHEDULE)
    url = f"{SCHEDULES}/{schedule['id']}"
    response = await client.delete(url)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(url)).status_code == 404
    assert (await client.delete(url)).status_code == 404


async def test_list_filters_and_pagination(client: httpx.AsyncClient) -> None:
    cron = await create(client, SEED_CRON_SCHEDULE)
    interval = await create(client, SEED_INTERVAL_SCHEDULE)
    third = await create(client, {**SEED_INTERVAL_SCHEDULE, "name": "Third", "tags": ["x"]})
    await client.post(f"{SCHEDULES}/{interval['id']}/pause")

    async def listed(**params: Any) -> dict[str, Any]:
        response = await client.get(SCHEDULES, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    everything = await listed()
    assert [s["id"] for s in everything["items"]] == [cron["id"], interval["id"], third["id"]]
    assert (everything["total"], everything["page"], everything["pages"]) == (3, 1, 1)
    assert {s["id"] for s in (await listed(status="paused"))["items"]} == {interval["id"]}
    assert (await listed(status="active"))["total"] == 2
    assert {s["id"] for s in (await listed(tags="report"))["items"]} == {cron["id"]}
    assert (await listed(tags=["report", "important"]))["total"] == 0
    assert (await listed(tags=["report", "daily"]))["total"] == 1
    page = await listed(limit=2, offset=2)
    assert (page["page"], page["page_size"], page["pages"]) == (2, 2, 2)
    assert [s["id"] for s in page["items"]] == [third["id"]]
    for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"status": "gone"}):
        assert (await client.get(SCHEDULES, params=params)).status_code == 422
