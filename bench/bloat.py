"""Table and index sizes, dead tuples and vacuum counters of the scheduler's tables."""

from __future__ import annotations

from typing import Any

from bench.infra import Conn

TABLES = ("scheduled_jobs", "job_executions", "users", "food_log", "auto_meal_plans")

TABLE_HEALTH = """
SELECT s.relname AS table,
       pg_relation_size(s.relid) AS heap_bytes,
       pg_indexes_size(s.relid) AS index_bytes,
       pg_total_relation_size(s.relid) AS total_bytes,
       s.n_live_tup AS live, s.n_dead_tup AS dead,
       s.n_tup_upd AS updated, s.n_tup_hot_upd AS hot_updated,
       s.n_tup_ins AS inserted, s.n_tup_del AS deleted,
       s.vacuum_count + s.autovacuum_count AS vacuums,
       s.autovacuum_count AS autovacuums,
       c.reloptions AS options
FROM pg_stat_user_tables s
JOIN pg_class c ON c.oid = s.relid
WHERE s.relname = ANY (%(tables)s)
ORDER BY s.relname
"""

INDEX_SIZES = """
SELECT i.indexrelname AS index, i.relname AS table, pg_relation_size(i.indexrelid) AS bytes
FROM pg_stat_user_indexes i
WHERE i.relname = ANY (%(tables)s)
ORDER BY pg_relation_size(i.indexrelid) DESC
"""


def mib(n: int) -> float:
    return round(n / 1048576, 2)


def snapshot(conn: Conn, tables: tuple[str, ...] = TABLES) -> dict[str, Any]:
    """Sizes (MiB) and tuple counts now. Counters lag their backends by up to 0.5 s."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    out: dict[str, Any] = {}
    for r in conn.execute(TABLE_HEALTH, {"tables": list(tables)}).fetchall():
        out[r["table"]] = {
            "heap_mib": mib(r["heap_bytes"]),
            "index_mib": mib(r["index_bytes"]),
            "total_mib": mib(r["total_bytes"]),
            "live": r["live"],
            "dead": r["dead"],
            "dead_pct": round(100 * r["dead"] / max(1, r["live"] + r["dead"]), 1),
            "updated": r["updated"],
            "hot_pct": round(100 * r["hot_updated"] / max(1, r["updated"]), 1),
            "inserted": r["inserted"],
            "deleted": r["deleted"],
            "vacuums": r["vacuums"],
            "autovacuums": r["autovacuums"],
            "options": r["options"],
        }
    out["indexes_mib"] = {
        f"{r['table']}.{r['index']}": mib(r["bytes"])
        for r in conn.execute(INDEX_SIZES, {"tables": list(tables[:2])}).fetchall()
    }
    return out
