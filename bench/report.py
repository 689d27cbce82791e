"""The human-readable table of a run (the JSON holds everything, this the headlines)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Cell = str | float | int | None


def _fmt(value: Cell, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def grid(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> list[str]:
    cells = [list(header)] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        first = row[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  " + "  ".join([first, *rest]).rstrip())
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def _meta(meta: dict[str, Any]) -> list[str]:
    return [
        f"meal-scheduler bench  run {meta.get('run_id')}  commit {meta.get('commit')}  "
        f"{meta.get('started_at')}",
        f"  {meta.get('nproc')} cores, {meta.get('mem_gib')} GiB, Postgres "
        f"{meta.get('postgres')}, Redis {meta.get('redis')}, Python {meta.get('python')}, "
        f"Celery {meta.get('celery')}; load at start {meta.get('loadavg_at_start')}"
        + (f"; patches {meta['config']['patches']}" if meta["config"].get("patches") else ""),
    ]


def _e2e(e: dict[str, Any]) -> list[str]:
    keys: list[str] = e.get("order", ["bridge", "plain"])
    labels: dict[str, str] = e.get("labels", {"bridge": "bridge", "plain": "plain Celery"})
    sides = [e[k] for k in keys]
    ratios: dict[str, dict[str, float]] = e.get("ratios", {})

    def cpu(part: str) -> list[Cell]:
        return [s["cpu_ms_per_job"].get(part) for s in sides]

    def ratio(kind: str) -> list[Cell]:
        return [ratios[k][kind] if k in ratios else None for k in keys]

    def rss(part: str) -> list[Cell]:
        return [s["peak_rss_mib"].get("worker", {}).get(part) for s in sides]

    def pg(part: str) -> list[Cell]:
        return [s.get("postgres", {}).get(part) for s in sides]

    bridge_pg = e["bridge"]["postgres"]

    def only_bridge(*names: str) -> list[Cell]:
        return [
            sum(e[k]["postgres"]["rows_per_job"][n] for n in names)
            if k.startswith("bridge")
            else None
            for k in keys
        ]

    rows: list[Sequence[Cell]] = [
        ["throughput, jobs/s", *[s["jobs_per_s"] for s in sides]],
        ["  bridge / this (median of rounds)", *ratio("throughput")],
        ["wall time, s", *[s["wall_s"] for s in sides]],
        ["CPU ms/job: worker (main + children)", *cpu("worker")],
        ["CPU ms/job:   of which worker main", *cpu("worker_main")],
        ["CPU ms/job: beat / publishing loop",
         *[s["cpu_ms_per_job"].get("beat", s["cpu_ms_per_job"].get("publisher")) for s in sides]],
        ["CPU ms/job: Postgres backends", *cpu("postgres")],
        ["CPU ms/job: Redis server (shared)", *cpu("redis_server_wide")],
        ["CPU ms/job: all processes", *cpu("all")],
        ["  bridge / this (median of rounds)", *ratio("cpu_all")],
        ["other load on the machine, cores", *[s["others_cores"] for s in sides]],
        ["peak RSS MiB: worker main", *rss("main")],
        ["peak RSS MiB: worker child (max)", *rss("child_max")],
        ["Postgres transactions/job", *pg("xacts_per_job")],
        ["rows/job: scheduled_jobs updated", *only_bridge("scheduled_jobs.updated")],
        ["rows/job: of which HOT", *only_bridge("scheduled_jobs.hot_updated")],
        ["rows/job: job_executions ins + upd",
         *only_bridge("job_executions.inserted", "job_executions.updated")],
    ]  # fmt: skip
    lines = [
        f"e2e: {e['jobs']:,} no-op jobs, concurrency {e['concurrency']}, median of "
        f"{e['rounds']} interleaved rounds (bridge / Celery defaults per round: "
        + ", ".join(f"{r['throughput_ratio']:.2f}" for r in e["per_round"])
        + ")"
    ]
    lines += grid(["", *[labels[k] for k in keys]], rows)
    ab = e.get("patched_vs_bridge")
    if ab:
        per_round = ", ".join(f"{r['patched_vs_bridge']['throughput']:.2f}" for r in e["per_round"])
        lines.append(
            f"  patched / bridge: throughput {ab['throughput']:.2f} (rounds {per_round}),"
            f" CPU per job {ab['cpu_all']:.2f}"
        )
    for key, label in (("procrastinate", "Procrastinate"), ("pgqueuer", "PgQueuer")):
        skipped = e.get(key, {}).get("skipped")
        if skipped:
            lines.append(f"  {label}: {skipped}")
    calls = [
        [name, f["calls_per_job"], f["us_per_job"]] for name, f in bridge_pg["functions"].items()
    ][:8]
    if calls:
        lines.append("  Postgres functions in the bridge run (track_functions, incl. nested):")
        lines += grid(["  function", "calls/job", "us/job"], calls)
    return lines


def _dispatch(d: dict[str, Any]) -> list[str]:
    rows: list[Sequence[Cell]] = [
        ["throughput, jobs/s", d["jobs_per_s"]],
        ["beat CPU ms/job", d["beat_cpu_ms_per_job"]],
        ["Postgres backend CPU ms/job", d["postgres_cpu_ms_per_job"]],
        ["Postgres transactions/job", d["xacts_per_job"]],
        ["beat peak RSS MiB", d["beat_peak_rss_mib"]],
    ]
    return [
        f"dispatch: one beat, no worker, {d['jobs']:,} jobs due at once",
        *grid(["", "value"], rows),
    ]


def _lifecycle(c: dict[str, Any]) -> list[str]:
    on, off = c["synchronous_commit_on"], c["synchronous_commit_off"]
    names = ("claim", "start_execution", "complete_execution", "pool_check")
    rows: list[Sequence[Cell]] = [
        [name, on[name]["wall_us"], on[name]["client_cpu_us"], on[name]["backend_cpu_us"],
         off[name]["wall_us"], off[name]["backend_cpu_us"]]
        for name in names
    ]  # fmt: skip
    run = c["execution_run"]
    rows.append(
        ["tasks.execution.run (no-op)", run["wall_us"], run["client_cpu_us"],
         run["backend_cpu_us"], None, None]
    )  # fmt: skip
    head = (
        f"lifecycle: each statement alone, one connection, {c['jobs']:,} jobs"
        " (claim: per claimed job), us"
    )
    return [
        head,
        *grid(["", "wall", "client CPU", "backend CPU", "wall async", "backend async"], rows),
        "  (async: synchronous_commit off; the difference in wall is the commit's WAL fsync)",
    ]


def _claim(c: dict[str, Any]) -> list[str]:
    r = c["rows"]
    batch, single = c["batch_claim"], c["one_by_one"]
    idle, busy = c["empty_claim_idle"], c["empty_claim_after_burst"]
    ex = c["explain"]

    def buffers(name: str) -> str:
        return f"{ex[name]['summary']['buffers_total']:,} buffers"

    rows: list[Sequence[Cell]] = [
        [f"batch claim ({batch['batch']}), per claimed job", batch["us_per_job"], "us",
         f"{batch['claimed']:,} in {batch['calls']} calls, "
         f"p50 {_fmt((batch['per_call'] or {}).get('p50_ms'))} ms/call; {buffers('claim')}"],
        ["claim finding nothing due (idle), per call", 1000 * idle["p50_ms"], "us",
         f"p50 of {idle['calls']}; {buffers('empty_claim_idle')}"],
        [f"same, {busy['active_jobs']:,} jobs still queued", 1000 * busy["p50_ms"], "us",
         f"p50 of {busy['calls']}; {buffers('empty_claim_after_burst')}"],
        ["get_next_pending_job + start_job, per job", single["us_per_job"], "us",
         f"{single['started']:,} jobs, p50 {_fmt((single['per_job'] or {}).get('p50_ms'))} ms"],
    ]  # fmt: skip
    head = (
        f"claim: {r['total']:,} rows ({r['completed']:,} completed, {r['future']:,} future,"
        f" {r['due']:,} due), table {c['table_size']['total']}"
    )
    lines = [head, *grid(["", "value", "", "notes"], rows)]
    for name, plans in ex.items():
        s = plans["summary"]
        seq = "; seq scans on " + ", ".join(s["seq_scans"]) if s["seq_scans"] else ""
        lines.append(f"  plans of {name}: index scans on {', '.join(s['indexes'])}{seq}")
    return lines


def _lag(lag: dict[str, Any]) -> list[str]:
    s, m = lag["scheduled"], lag["manual"]
    rows = [
        [f"scheduled_for -> started ({s['spread_s']:.0f} s spread)", s["n"], s["p50_ms"],
         s["p95_ms"], s["p99_ms"], s["max_ms"]],
        ["manual trigger -> started", m["n"], m["p50_ms"], m["p95_ms"], m["p99_ms"], m["max_ms"]],
    ]  # fmt: skip
    return [
        f"lag (tick {lag['tick_s']:.0f} s), ms",
        *grid(["", "n", "p50", "p95", "p99", "max"], rows),
    ]


SECTIONS = {
    "e2e": _e2e,
    "dispatch": _dispatch,
    "lifecycle": _lifecycle,
    "claim": _claim,
    "lag": _lag,
}


def table(results: dict[str, Any]) -> str:
    lines = _meta(results["meta"])
    for name, render in SECTIONS.items():
        if name not in results:
            continue
        lines.append("")
        section = results[name]
        if "error" in section:
            lines.append(f"{name}: FAILED: {section['error']}")
        else:
            lines += render(section)
    return "\n".join(lines)
