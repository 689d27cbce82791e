"""/metrics scraped over HTTP; every value is checked against Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.dashboard_support import Conn, claim, run_job, seed, serve, start, web_settings
from tests.support import connect, insert_job, wait_until


@pytest.fixture
def web(db_url: str, redis_url: str, db: Conn) -> Iterator[str]:
    seed(db)
    with serve(web_settings(db_url, redis_url)) as url:
        yield url


def scrape(web: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(web + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def outcomes_in_postgres(db: Conn) -> dict[tuple[str, str], float]:
    rows = db.execute(
        "SELECT j.job_type, e.status::text AS status, count(*) AS n FROM job_executions e"
        " JOIN scheduled_jobs j ON j.id = e.job_id WHERE e.status <> 'running' GROUP BY 1, 2"
    ).fetchall()
    return {(r["job_type"], r["status"]): float(r["n"]) for r in rows}


def outcomes_scraped(values: dict[Any, float]) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["job_type"], dict(labels)["outcome"]): v
        for (name, labels), v in values.items()
        if name == "meal_scheduler_executions_total"
    }


def lag_counts(db: Conn) -> dict[str, float]:
    rows = db.execute(
        "SELECT j.job_type, count(*) AS n FROM job_executions e JOIN scheduled_jobs j"
        " ON j.id = e.job_id WHERE e.scheduled_for IS NOT NULL GROUP BY 1"
    ).fetchall()
    return {r["job_type"]: float(r["n"]) for r in rows}


def test_metrics_match_postgres(web: str, db: Conn, redis_url: str, db_url: str) -> None:
    # The totals load in the background at start-up; until then, gauges only.
    values = wait_until(lambda: (v := scrape(web)) and outcomes_scraped(v) and v, timeout=20)
    backlog = db.execute(
        "SELECT priority::text, count(*) AS n FROM scheduled_jobs WHERE status = 'pending'"
        " AND enabled AND scheduled_for <= now() GROUP BY 1"
    ).fetchall()
    expected = {r["priority"]: float(r["n"]) for r in backlog}
    for priority in ("critical", "high", "medium", "low"):
        got = values[("meal_scheduler_backlog_jobs", (("priority", priority),))]
        assert got == expected.get(priority, 0.0), priority
    assert expected["critical"] == 1.0
    oldest = db.execute(
        "SELECT extract(epoch FROM now() - min(scheduled_for))::float AS age FROM scheduled_jobs"
        " WHERE status = 'pending' AND enabled AND scheduled_for <= now()"
    ).fetchone()
    assert oldest is not None
    assert abs(values[("meal_scheduler_oldest_due_age_seconds", ())] - oldest["age"]) < 5
    assert values[("meal_scheduler_max_concurrent_jobs", ())] == 100.0
    assert values[("meal_scheduler_paused", ())] == 0.0
    assert values[("meal_scheduler_active_jobs", (("state", "running"),))] == 0.0
    assert values[("meal_scheduler_live_workers", ())] == 2.0
    assert values[("meal_scheduler_live_workers_by_job_type", (("job_type", "auto_sync"),))] == 2.0
    assert values[("meal_scheduler_beat_lock_held", ())] == 0.0
    assert values[("meal_scheduler_failures_24h", ())] == 3.0
    assert outcomes_scraped(values) == outcomes_in_postgres(db)
    assert outcomes_scraped(values)[("daily_advisor", "abandoned")] == 1.0
    for job_type, n in lag_counts(db).items():
        labels = (("job_type", job_type),)
        assert values[("meal_scheduler_dispatch_lag_seconds_count", labels)] == n
        assert (
            values[("meal_scheduler_dispatch_lag_seconds_bucket", (*labels, ("le", "+Inf")))] == n
        )
        # Every seeded attempt started at least a second late (due 1-4 s ago).
        assert values[("meal_scheduler_dispatch_lag_seconds_bucket", (*labels, ("le", "0.5")))] == 0

    # Later scrapes read only what is new: an attempt running at one scrape
    # and finished before the next is counted once, when it finishes.
    insert_job(db, "more-0", "auto_sync", due="now() - interval '1 second'", max_retries=0)
    insert_job(db, "more-1", "auto_sync", due="now()", max_retries=0)
    db.execute("DELETE FROM scheduled_jobs WHERE id IN ('late-critical', 'late-low')")
    dispatch = claim(db)
    running = start(db, "more-0", dispatch["more-0"])
    values = scrape(web)
    assert values[("meal_scheduler_active_jobs", (("state", "running"),))] == 1.0
    assert outcomes_scraped(values) == outcomes_in_postgres(db)
    db.execute("SELECT complete_execution_v1(%s, '{}'::jsonb)", (running,))
    run_job(db, "more-1", "failed", dispatch)
    values = scrape(web)
    assert outcomes_scraped(values) == outcomes_in_postgres(db)
    assert outcomes_scraped(values)[("auto_sync", "completed")] == 4.0
    assert (
        values[("meal_scheduler_dispatch_lag_seconds_count", (("job_type", "auto_sync"),))]
        == (lag_counts(db)["auto_sync"])
    )
    # The paused switch and the beat lock (held by a beat in Redis).
    db.execute("UPDATE scheduler_config SET enabled = false")
    prefix = web_settings(db_url, redis_url).key_prefix
    redis.Redis.from_url(redis_url).set(f"{prefix}:lock", "beat-1", px=10_000)
    values = scrape(web)
    assert values[("meal_scheduler_paused", ())] == 1.0
    assert values[("meal_scheduler_beat_lock_held", ())] == 1.0


def test_an_attempt_committed_out_of_id_order_is_counted(web: str, db: Conn, db_url: str) -> None:
    wait_until(lambda: outcomes_scraped(scrape(web)), timeout=20)
    insert_job(db, "slow-commit", "auto_sync", max_retries=0)
    insert_job(db, "fast-commit", "auto_sync", max_retries=0)
    dispatch = claim(db)
    with connect(db_url) as other:
        other.autocommit = False
        # The lower execution id, committed last.
        slow = start(other, "slow-commit", dispatch["slow-commit"])
        fast = start(db, "fast-commit", dispatch["fast-commit"])
        assert slow < fast
        db.execute("SELECT complete_execution_v1(%s, '{}'::jsonb)", (fast,))
        scrape(web)  # reads past the uncommitted id
        other.commit()
    db.execute("SELECT complete_execution_v1(%s, '{}'::jsonb)", (slow,))
    values = scrape(web)
    assert outcomes_scraped(values) == outcomes_in_postgres(db)
    assert (
        values[("meal_scheduler_dispatch_lag_seconds_count", (("job_type", "auto_sync"),))]
        == (lag_counts(db)["auto_sync"])
    )
