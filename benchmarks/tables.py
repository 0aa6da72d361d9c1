"""The Markdown report of a comparison run: one table per setting, ready to paste.

Every figure is the median over the runs with the min-max beside it, so a
reader sees how far a run strays. Rows come from ``SystemMeta`` (saved with
the results), so a saved JSON renders again without the systems installed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.harness import Results, fmt, render_machine


@dataclass(frozen=True, slots=True)
class SystemMeta:
    """What the report says about one system under one setting."""

    key: str
    name: str
    display: str
    setting: str
    backend: str
    is_uno: bool
    durability: str
    worker_config: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Column:
    metric: str
    title: str
    unit: str
    higher_is_better: bool = True


MAIN_COLUMNS = (
    Column("enqueue_single", "single enqueue/s", "jobs/s"),
    Column("enqueue_bulk", "bulk enqueue/s", "jobs/s"),
    Column("enqueue_concurrent", "{producers} producers enqueue/s", "jobs/s"),
    Column("drain_steady", "drain steady/s ({jobs})", "jobs/s"),
    Column("big_steady", "drain steady/s ({big})", "jobs/s"),
    Column("big_ratio", "{big}/{jobs}", "x"),
    Column("latency_p50", "pickup p50 ms", "ms", False),
    Column("latency_p99", "pickup p99 ms", "ms", False),
    Column("drain_cpu", "worker CPU ms/1k jobs", "ms", False),
)
RATIO_COLUMNS = tuple(c for c in MAIN_COLUMNS if c.metric != "big_ratio")
API_COLUMNS = (
    Column("api_post", "POST /jobs, wrk or httpx, {connections} conns", "req/s"),
    Column("api_post_4proc", "POST /jobs, 4 processes x 8 conns", "req/s"),
    Column("api_get", "GET /jobs?limit=10", "req/s"),
)
SETTING_TITLES = {
    "default": "each system at its own default",
    "best": "each system at the harness's tuned setting",
}


def setting_title(setting: str) -> str:
    return SETTING_TITLES.get(setting, f"every system at concurrency/batch {setting}")


def cell(results: Results, key: str, metric: str, unit: str) -> str:
    """``median (min-max)``, or the median alone after one run, or ``-``."""
    values = results.samples.get(key, {}).get(metric)
    if not values:
        return "-"
    med = fmt(results.median(key, metric), unit)
    if len(values) == 1:
        return med
    return f"{med} ({fmt(min(values), unit)}-{fmt(max(values), unit)})"


def grid(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, numbers right-aligned."""
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join([" --- "] + [" ---: "] * (len(header) - 1)) + "|")
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main_table(results: Results, metas: list[SystemMeta], sizes: dict[str, Any]) -> str:
    header = ["system (setting)", "acknowledgements commit"] + [
        c.title.format(**sizes) for c in MAIN_COLUMNS
    ]
    rows = [
        [m.display, m.durability] + [cell(results, m.key, c.metric, c.unit) for c in MAIN_COLUMNS]
        for m in metas
        if m.key in results.samples
    ]
    return grid(header, rows)


def comparable(uno: SystemMeta, peer: SystemMeta) -> bool:
    """Peers an uno-jobs store is held against: those on the same kind of storage."""
    return not peer.is_uno and peer.backend == uno.backend


def ratio_table(results: Results, metas: list[SystemMeta], sizes: dict[str, Any]) -> str:
    """uno-jobs median / peer median; for latency and CPU below 1 favours uno-jobs."""
    header = ["uno-jobs / peer"] + [c.title.format(**sizes) for c in RATIO_COLUMNS]
    rows: list[list[str]] = []
    for uno in (m for m in metas if m.is_uno):
        for peer in (p for p in metas if comparable(uno, p)):
            cells = []
            for c in RATIO_COLUMNS:
                mine, theirs = results.median(uno.key, c.metric), results.median(peer.key, c.metric)
                cells.append(f"{mine / theirs:.2f}x" if mine and theirs else "-")
            rows.append([f"{uno.display} / {peer.display}", *cells])
    return grid(header, rows) if rows else ""


def api_table(results: Results, metas: list[SystemMeta], sizes: dict[str, Any]) -> str:
    header = ["system (setting)"] + [c.title.format(**sizes) for c in API_COLUMNS]
    rows = [
        [m.display] + [cell(results, m.key, c.metric, c.unit) for c in API_COLUMNS]
        for m in metas
        if results.median(m.key, "api_post") is not None
    ]
    return grid(header, rows) if rows else ""


def scale_table(results: Results, metas: list[SystemMeta], processes: list[int]) -> str:
    """Drain with 1, 2, 4... worker processes: rate, per-process rate and CPU cost."""
    header = [
        "system (setting)",
        "worker processes",
        "drain steady/s",
        "per process/s",
        "vs 1 process",
        "worker CPU ms/1k jobs",
        "PostgreSQL CPU ms/1k jobs",
    ]
    rows: list[list[str]] = []
    for m in metas:
        base = results.median(m.key, "scale1_steady")
        for p in processes:
            steady = results.median(m.key, f"scale{p}_steady")
            if steady is None:
                continue
            rows.append(
                [
                    m.display,
                    str(p),
                    cell(results, m.key, f"scale{p}_steady", "jobs/s"),
                    fmt(steady / p, "jobs/s"),
                    f"{steady / base:.2f}x" if base else "-",
                    cell(results, m.key, f"scale{p}_cpu", "ms"),
                    cell(results, m.key, f"scale{p}_pg_cpu", "ms"),
                ]
            )
    return grid(header, rows) if rows else ""


def targets(results: Results, metas: list[SystemMeta]) -> list[str]:
    """The issue's targets for one setting, read from the medians."""
    by_name = {m.name: m for m in metas if "+" not in m.key.split("@")[0]}
    lines: list[str] = []

    def check(label: str, value: float | None, goal: float | None, higher: bool = True) -> None:
        if value is None or goal is None:
            lines.append(f"- [n/a] {label}")
            return
        ok = value >= goal if higher else value <= goal
        lines.append(f"- [{'met' if ok else 'UNMET'}] {label}: {value:,.2f} vs {goal:,.2f}")

    def med(name: str, metric: str) -> float | None:
        meta = by_name.get(name)
        return results.median(meta.key, metric) if meta else None

    for uno in (m for m in metas if m.is_uno):
        if uno.backend == "postgres":
            for metric in ("drain_steady", "big_steady"):
                pgq = med("pgqueuer", metric)
                goal = 2 * pgq if pgq else None
                check(f"{uno.display} {metric} >= 2x PgQueuer", _m(results, uno, metric), goal)
        ratio = _m(results, uno, "big_ratio")
        check(f"{uno.display} big/small drain >= 0.8", ratio, 0.8)
        check(f"{uno.display} big/small drain <= 1.25", ratio, 1.25, higher=False)
        if uno.backend == "postgres":
            for metric, times in (("enqueue_bulk", 2), ("enqueue_concurrent", 3)):
                pgq = med("pgqueuer", metric)
                goal = times * pgq if pgq else None
                check(
                    f"{uno.display} {metric} >= {times}x PgQueuer", _m(results, uno, metric), goal
                )
            pgq = med("pgqueuer", "enqueue_single")
            check(
                f"{uno.display} enqueue_single >= PgQueuer", _m(results, uno, "enqueue_single"), pgq
            )
        check(f"{uno.display} pickup p99 <= 3 ms", _m(results, uno, "latency_p99"), 3.0, False)
        peers = [
            v
            for p in metas
            if p.backend == "postgres" and not p.is_uno
            if (v := results.median(p.key, "latency_p99")) is not None
        ]
        if uno.backend == "postgres":
            check(
                f"{uno.display} pickup p99 below every PostgreSQL peer's",
                _m(results, uno, "latency_p99"),
                min(peers) if peers else None,
                higher=False,
            )
    return lines


def _m(results: Results, meta: SystemMeta, metric: str) -> float | None:
    return results.median(meta.key, metric)


def render(
    results: Results,
    metas: list[SystemMeta],
    settings: list[str],
    sizes: dict[str, Any],
    machine: dict[str, Any],
    notes: list[str],
) -> str:
    """The whole Markdown report (``sizes``: jobs, big, producers, connections, runs,
    scale, and the text of the workloads' parameters)."""
    parts = [
        "```",
        render_machine(machine),
        f"servers' durability: {machine.get('durability', '?')}",
        "```",
        "",
        f"{sizes['runs']} runs per system and setting, interleaved; cells are "
        "median (min-max). " + sizes["workloads"],
        "",
        *[f"- {n}" for n in notes],
    ]
    for setting in settings:
        chosen = [m for m in metas if m.setting == setting]
        parts += ["", f"### Setting `{setting}`: {setting_title(setting)}", ""]
        parts += [main_table(results, chosen, sizes), ""]
        ratios = ratio_table(results, chosen, sizes)
        if ratios:
            parts += [
                "Ratios (uno-jobs median / peer median; for latency and CPU, "
                "below 1 favours uno-jobs):",
                "",
                ratios,
                "",
            ]
        api = api_table(results, chosen, sizes)
        if api:
            parts += ["REST API (a server with its embedded worker):", "", api, ""]
        scale = scale_table(results, chosen, sizes["scale"])
        if scale:
            parts += [
                f"Scale-out: {sizes['scale_jobs']:,} jobs drained by N worker "
                "processes on one PostgreSQL:",
                "",
                scale,
                "",
            ]
        parts += ["Targets of issue #16:", "", *targets(results, chosen)]
    parts += ["", "Workers:", ""]
    parts += [f"- {m.display}: {m.worker_config}" for m in metas]
    if results.errors:
        parts += ["", "Errors:", ""]
        for key, errors in results.errors.items():
            parts += [f"- {key}: {e}" for e in errors]
    return "\n".join(parts) + "\n"
