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
    b, p = e["bridge"], e["plain"]
    bc, pc = b["cpu_ms_per_job"], p["cpu_ms_per_job"]
    brss, prss = b["peak_rss_mib"], p["peak_rss_mib"]
    pg = b["postgres"]
    rows: list[Sequence[Cell]] = [
        ["throughput, jobs/s", b["jobs_per_s"], p["jobs_per_s"], e["throughput_ratio"]],
        ["wall time, s", b["wall_s"], p["wall_s"], None],
        ["CPU ms/job: worker (main + children)", bc["worker"], pc["worker"], None],
        ["CPU ms/job: of which worker main", bc["worker_main"], pc["worker_main"], None],
        ["CPU ms/job: beat / publishing loop", bc["beat"], pc["publisher"], None],
        ["CPU ms/job: Python total", bc["python"], pc["python"], e["cpu_ratio_python"]],
        ["CPU ms/job: Postgres backends", bc["postgres"], None, None],
        ["CPU ms/job: all measured", bc["total"], pc["total"], bc["total"] / pc["total"]],
        ["CPU ms/job: Redis server (shared)", bc["redis_server_wide"], pc["redis_server_wide"]],
        ["other load on the machine, cores", b["others_cores"], p["others_cores"], None],
        ["peak RSS MiB: worker main", brss["worker"]["main"], prss["worker"]["main"], None],
        ["peak RSS MiB: worker child (max)", brss["worker"]["child_max"],
         prss["worker"]["child_max"], None],
        ["peak RSS MiB: beat", brss["beat"]["main"], None, None],
        ["Postgres transactions/job", pg["xacts_per_job"], None, None],
        ["rows/job: scheduled_jobs updated", pg["rows_per_job"]["scheduled_jobs.updated"]],
        ["rows/job: job_executions ins + upd",
         pg["rows_per_job"]["job_executions.inserted"]
         + pg["rows_per_job"]["job_executions.updated"]],
    ]  # fmt: skip
    rows = [list(r) + [None] * (4 - len(r)) for r in rows]
    lines = [
        f"e2e: {e['jobs']:,} no-op jobs, prefork -c {e['concurrency']}, median of "
        f"{e['rounds']} rounds (ratios: "
        + ", ".join(f"{r['throughput_ratio']:.2f}" for r in e["per_round"])
        + ")"
    ]
    lines += grid(["", "bridge", "plain Celery", "bridge/plain"], rows)
    calls = [[name, f["calls_per_job"], f["us_per_job"]] for name, f in pg["functions"].items()][:8]
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
