"""The task registry: names, versions, defaults and validation."""

from __future__ import annotations

import pytest

from uno.jobs import JobSystem, TaskNotFound, ValidationError
from uno.jobs.tasks import Task, TaskRegistry


def make(name: str = "t", version: str = "1.0", **kw: object) -> Task:
    return Task(name=name, func=lambda: None, version=version, **kw)  # type: ignore[arg-type]


def test_latest_version_is_the_highest_in_natural_order() -> None:
    registry = TaskRegistry()
    for version in ("1.9", "1.10", "1.2"):
        registry.register(make(version=version))
    assert registry.get("t").version == "1.10"
    assert registry.get("t", "1.2").version == "1.2"
    assert registry.versions("t") == ["1.2", "1.9", "1.10"]


def test_unknown_task_or_version_is_refused_with_the_name() -> None:
    registry = TaskRegistry()
    registry.register(make())
    with pytest.raises(TaskNotFound, match="Task not found: nope"):
        registry.get("nope")
    with pytest.raises(TaskNotFound, match=r"version 9\.9 \(known versions: 1\.0\)"):
        registry.get("t", "9.9")


@pytest.mark.parametrize(
    "bad",
    [
        {"timeout": -1},
        {"timeout": 0},
        {"max_retries": -1},
        {"retry_delay": -5},
        {"queue": ""},
        {"executor": "gpu"},
    ],
)
def test_bad_task_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TaskRegistry().register(make(**bad))


def test_decorator_takes_name_and_description_from_the_function() -> None:
    jobs = JobSystem(database_url="sqlite:///unused.db")

    @jobs.task
    async def resize(path: str) -> str:
        """Resize an image.

        More text that is not the description.
        """
        return path

    @jobs.task(name="crunch", queue="cpu", executor="process", timeout=5)
    def crunch(n: int) -> int:
        return n

    assert resize.name == "resize"
    assert resize.description == "Resize an image."
    assert resize.is_async
    assert not crunch.is_async
    assert jobs.registry.get("crunch").queue == "cpu"
    assert jobs.registry.queues() == {"default", "cpu"}
    assert crunch(3) == 3


def test_all_lists_the_latest_version_of_each_task_by_name() -> None:
    registry = TaskRegistry()
    registry.register(make("b"))
    registry.register(make("a", "1.0"))
    registry.register(make("a", "2.0"))
    assert [(t.name, t.version) for t in registry.all()] == [("a", "2.0"), ("b", "1.0")]
