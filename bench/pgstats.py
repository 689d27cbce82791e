"""What Postgres did for a bench database: transactions, rows, function calls, WAL, CPU.

Counters come from the cumulative statistics views. A busy backend flushes
its counters at most once a second and an idle one may wait ten, but every
backend flushes when it exits: read the "after" counters once the worker and
the beat have stopped (:func:`settle`), and their backends' CPU before
(:func:`backend_cpu`). Function calls need ``track_functions``, which
:func:`track_functions` turns on for the database (new sessions only).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench.infra import Conn
from bench.procstat import CpuSample

TABLES = ("scheduled_jobs", "job_executions")
STATS_FLUSH_S = 0.5


def track_functions(conn: Conn) -> None:
    """Count calls and time of our SQL functions in every later session of this database."""
    dbname = conn.info.dbname
    conn.execute(f"ALTER DATABASE \"{dbname}\" SET track_functions = 'all'")


def settle() -> None:
    """Give the backends of stopped services time to exit (and flush their counters)."""
    time.sleep(STATS_FLUSH_S)


def wait_flushed(conn: Conn, executions: int, timeout: float) -> bool:
    """Wait until the counters show ``executions`` finished executions (e.g. a warm-up's).

    Otherwise a warm-up's counters, still pending in idle backends, would be
    flushed into the measured interval. Idle backends flush within 10 s.
    """
    deadline = time.monotonic() + timeout
    while True:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT n_tup_ins, n_tup_upd FROM pg_stat_user_tables WHERE relname = 'job_executions'"
        ).fetchone()
        if row and row["n_tup_ins"] >= executions and row["n_tup_upd"] >= executions:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)


def backend_cpu(conn: Conn) -> CpuSample:
    """CPU seconds of this database's other backends (our own connection excluded)."""
    pids = [
        r["pid"]
        for r in conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    ]
    return CpuSample.of_pids(pids)


@dataclass
class PgSample:
    xact_commit: int
    xact_rollback: int
    wal_lsn: str
    tables: dict[str, dict[str, int]]
    functions: dict[str, dict[str, float]]


def sample(conn: Conn) -> PgSample:
    """One read of the counters (a few statements on ``conn``, counted by the caller)."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    db = conn.execute(
        "SELECT xact_commit, xact_rollback, pg_current_wal_lsn()::text AS lsn"
        " FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    assert db is not None
    tables = {
        r["relname"]: {k: int(v) for k, v in r.items() if k != "relname"}
        for r in conn.execute(
            "SELECT relname, n_tup_ins AS inserted, n_tup_upd AS updated,"
            " n_tup_hot_upd AS hot_updated, n_tup_del AS deleted"
            " FROM pg_stat_user_tables WHERE relname = ANY(%s)",
            (list(TABLES),),
        ).fetchall()
    }
    functions = {
        r["funcname"]: {"calls": int(r["calls"]), "total_ms": float(r["total_time"])}
        for r in conn.execute(
            "SELECT funcname, calls, total_time FROM pg_stat_user_functions"
        ).fetchall()
    }
    return PgSample(
        int(db["xact_commit"]), int(db["xact_rollback"]), str(db["lsn"]), tables, functions
    )


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def per_job(before: PgSample, after: PgSample, jobs: int, own_xacts: int) -> dict[str, Any]:
    """Deltas divided by ``jobs``; ``own_xacts`` are the bench's own polling transactions."""
    xacts = after.xact_commit - before.xact_commit - own_xacts
    rows: dict[str, float] = {}
    for table in TABLES:
        a, b = after.tables.get(table, {}), before.tables.get(table, {})
        for key in ("inserted", "updated", "hot_updated"):
            rows[f"{table}.{key}"] = (a.get(key, 0) - b.get(key, 0)) / jobs
    calls: dict[str, dict[str, float]] = {}
    for name, a_fn in after.functions.items():
        b_fn = before.functions.get(name, {"calls": 0, "total_ms": 0.0})
        n = a_fn["calls"] - b_fn["calls"]
        if n > 0:
            calls[name] = {
                "calls_per_job": n / jobs,
                "us_per_job": 1000 * (a_fn["total_ms"] - b_fn["total_ms"]) / jobs,
            }
    return {
        "xacts_per_job": xacts / jobs,
        "rollbacks": after.xact_rollback - before.xact_rollback,
        "rows_per_job": rows,
        "functions": dict(sorted(calls.items(), key=lambda kv: -kv[1]["us_per_job"])),
        "wal_bytes_per_job_server_wide": (_lsn(after.wal_lsn) - _lsn(before.wal_lsn)) / jobs,
    }
