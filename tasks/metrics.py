"""Prometheus metrics from Postgres, computed when Prometheus scrapes.

Postgres holds the state of every beat and worker host, so the numbers come
from it, not from one process's memory: a scrape of any web process counts
the whole fleet. Gauges (backlog, active vs limit, paused, oldest due job,
live workers) are read fresh on every scrape.

Counters and the dispatch-lag histogram (per job type) are the history in
``job_executions``: the web process loads the totals when it starts, in one
grouped query (one pass over the table, once: 2-3 s at a million attempts;
scrapes meanwhile get the gauges only), later scrapes read only the
attempts after a cursor on the execution id plus those still running at the
previous scrape (at most ``max_concurrent_jobs`` of them), by primary key.
History pruning does not lower them (a counter never goes down); a restart
of the web process reloads them from what is left (Prometheus handles the
reset). The lag of an attempt is observed when it is first seen; attempts
started before migration 007 have no recorded due time and no lag.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from tasks import operator as op
from tasks import tick_stats
from tasks.db import Database

# Dispatch lag buckets (seconds): the target is p99 under one tick (1 s).
LAG_BUCKETS: tuple[float, ...] = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)
BATCH = 50_000  # most new attempts read per scrape; the rest on the next one
SLACK = 10_000  # ids below the cursor read again: inserts commit out of id order


@dataclass
class _Lag:
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LAG_BUCKETS) + 1))
    total: float = 0.0


class ExecutionHistory:
    """Outcome counters and lag histograms, brought up to date on each scrape."""

    def __init__(self) -> None:
        self.loaded = False
        self.cursor = 0
        self.running: set[int] = set()
        self.seen: set[int] = set()  # ids within SLACK of the cursor already counted
        self.outcomes: dict[tuple[str, str], int] = defaultdict(int)
        self.lags: dict[str, _Lag] = defaultdict(_Lag)
        self._lock = threading.Lock()

    def _observe(self, job_type: str, lag_seconds: float | None) -> None:
        if lag_seconds is None:
            return
        lag = self.lags[job_type]
        lag.buckets[bisect.bisect_right(LAG_BUCKETS, lag_seconds)] += 1
        lag.total += lag_seconds

    def _load(self, db: Database) -> None:
        with db.transaction() as tx:
            tx.exec("begin_repeatable_read")
            top = tx.one("max_execution_id")
            upto = int(top["id"]) if top else 0
            totals = tx.many("execution_totals", upto_id=upto, bounds=list(LAG_BUCKETS))
            running = tx.many(
                "dashboard_runs",
                job_id=None,
                job_type=None,
                status="running",
                trigger_type=None,
                since=None,
                before_at=None,
                before_id=None,
                limit=1_000_000,
            )
            recent = tx.many("execution_ids_between", after_id=max(0, upto - SLACK), upto_id=upto)
        for r in totals:
            if r["status"] != "running":
                self.outcomes[(r["job_type"], r["status"])] += int(r["n"])
            if r["bucket"] is not None:
                lag = self.lags[r["job_type"]]
                lag.buckets[int(r["bucket"])] += int(r["n"])
                lag.total += float(r["lag_sum"])
        self.running = {int(r["id"]) for r in running if int(r["id"]) <= upto}
        self.cursor = upto
        # Counted up to the cursor: the ids near it that this snapshot saw.
        # One that commits later is found by the next scrape.
        self.seen = {int(r["id"]) for r in recent}
        self.loaded = True

    def refresh(self, db: Database, wait: bool = True) -> bool:
        """Bring the totals up to date; False (without waiting) while another
        thread holds them, e.g. the first load at start-up with ``wait=False``."""
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            if not self.loaded:
                self._load(db)
            else:
                self._advance(db)
            return True
        finally:
            self._lock.release()

    def _advance(self, db: Database) -> None:
        # Execution ids are drawn at insert but committed in any order: a
        # lower id can appear after a higher one was read. So each scrape
        # lists the last SLACK ids below the cursor (a primary-key range,
        # no join) and reads in full only the ones it has not seen.
        low = max(0, self.cursor - SLACK)
        near = db.many("execution_ids_between", after_id=low, upto_id=self.cursor)
        late = {int(r["id"]) for r in near} - self.seen
        rows = db.many(
            "executions_since",
            after_id=self.cursor,
            running_ids=sorted(self.running | late),
            limit=BATCH + len(self.running) + len(late),
        )
        for r in rows:
            ex_id = int(r["id"])
            new = ex_id > self.cursor or ex_id in late
            if new:
                self.seen.add(ex_id)
                self._observe(r["job_type"], r["lag_seconds"])
            if r["status"] == "running":
                self.running.add(ex_id)
            elif new or ex_id in self.running:
                self.outcomes[(r["job_type"], r["status"])] += 1
                self.running.discard(ex_id)
        present = {int(r["id"]) for r in rows}
        # A running attempt that vanished (its job was removed) is dropped.
        self.running &= present
        self.cursor = max([self.cursor, *present])
        self.seen = {i for i in self.seen if i > self.cursor - SLACK}


class PostgresCollector(Collector):
    """A prometheus_client collector; every value is read from Postgres at scrape time."""

    def __init__(
        self,
        db: Database,
        redis_url: str = "",
        key_prefix: str = "meal-scheduler",
        live_seconds: float = 30.0,
        now: datetime | None = None,
    ) -> None:
        self.db = db
        self.live_seconds = live_seconds
        self.redis_url = redis_url
        self.key_prefix = key_prefix
        self.now = now  # tests fix the clock
        self.history = ExecutionHistory()

    def describe(self) -> Iterator[Metric]:
        return iter(())  # values need Postgres: nothing is collected at registration

    def collect(self) -> Iterator[Metric]:
        yield from self._gauges()
        yield from self._history()
        yield from self._ticks()

    def _ticks(self) -> Iterator[Metric]:
        """The active beat's tick durations, from Redis (tasks.tick_stats)."""
        if not self.redis_url:
            return
        import redis

        client = redis.Redis.from_url(
            self.redis_url, socket_connect_timeout=1.0, socket_timeout=1.0
        )
        try:
            stats = tick_stats.read(client, self.key_prefix)
        except redis.RedisError:
            return
        finally:
            client.close()
        if stats is None:
            return
        h = HistogramMetricFamily(
            "meal_scheduler_beat_tick_seconds",
            "Duration of the beat's ticks: reap, claim and publish (not the sleep)",
        )
        h.add_metric([], [(le, float(n)) for le, n in stats.buckets], sum_value=stats.total)
        yield h
        yield GaugeMetricFamily(
            "meal_scheduler_beat_last_tick_seconds",
            "Duration of the beat's latest tick",
            value=stats.last,
        )

    def _gauges(self) -> Iterator[Metric]:
        status = op.scheduler_status(
            self.db, redis_url=self.redis_url, key_prefix=self.key_prefix, now=self.now
        )
        backlog = self.db.many("backlog_by_priority", now=self.now)
        g = GaugeMetricFamily(
            "meal_scheduler_backlog_jobs",
            "Jobs due and waiting to be dispatched (pending, enabled, scheduled_for <= now)",
            labels=["priority"],
        )
        for r in backlog:
            g.add_metric([r["priority"]], float(r["due"]))
        yield g
        lag = status.oldest_due_lag
        yield GaugeMetricFamily(
            "meal_scheduler_oldest_due_age_seconds",
            "How long the oldest due job has waited (0 when none is due)",
            value=0.0 if lag is None else lag.total_seconds(),
        )
        g = GaugeMetricFamily(
            "meal_scheduler_active_jobs", "Jobs queued or running", labels=["state"]
        )
        g.add_metric(["queued"], float(status.queued))
        g.add_metric(["running"], float(status.running))
        yield g
        yield GaugeMetricFamily(
            "meal_scheduler_max_concurrent_jobs",
            "scheduler_config.max_concurrent_jobs: the most jobs queued + running",
            value=float(status.config.max_concurrent_jobs),
        )
        yield GaugeMetricFamily(
            "meal_scheduler_paused",
            "1 while the scheduler is paused (scheduler_config.enabled = false)",
            value=0.0 if status.config.enabled else 1.0,
        )
        yield GaugeMetricFamily(
            "meal_scheduler_expired_leases",
            "Running attempts whose lease ran out, not yet reaped",
            value=float(status.expired_leases),
        )
        yield GaugeMetricFamily(
            "meal_scheduler_failures_24h",
            "Failed and abandoned attempts that ended in the last 24 hours",
            value=float(status.failures_24h),
        )
        beat = GaugeMetricFamily(
            "meal_scheduler_beat_lock_held",
            "1 while a beat holds the redbeat lock; absent when Redis is not configured",
        )
        if status.beat.state != "unknown":
            beat.add_metric([], 1.0 if status.beat.state == "held" else 0.0)
        yield beat
        workers = self.db.many(
            "dashboard_worker_types", now=self.now, live_seconds=self.live_seconds
        )
        live = self.db.many("dashboard_workers", now=self.now, live_seconds=self.live_seconds)
        yield GaugeMetricFamily(
            "meal_scheduler_live_workers",
            f"Workers whose heartbeat is younger than {self.live_seconds:.0f} s",
            value=float(len(live)),
        )
        g = GaugeMetricFamily(
            "meal_scheduler_live_workers_by_job_type",
            "Live workers that handle each job type",
            labels=["job_type"],
        )
        for r in workers:
            g.add_metric([r["job_type"]], float(r["workers"]))
        yield g

    def _history(self) -> Iterator[Metric]:
        # Until the first load is done (it reads the whole history once),
        # scrapes get the gauges only instead of waiting for it.
        if not self.history.refresh(self.db, wait=self.history.loaded):
            return
        c = CounterMetricFamily(
            "meal_scheduler_executions",
            "Finished attempts by job type and outcome (completed, failed, abandoned: a reaped "
            "attempt whose worker was lost)",
            labels=["job_type", "outcome"],
        )
        for (job_type, outcome), n in sorted(self.history.outcomes.items()):
            c.add_metric([job_type, outcome], float(n))
        yield c
        h = HistogramMetricFamily(
            "meal_scheduler_dispatch_lag_seconds",
            "Time from an attempt's due time (scheduled_for) to its start",
            labels=["job_type"],
        )
        for job_type, lag in sorted(self.history.lags.items()):
            cumulative, running_total = [], 0
            for bound, n in zip((*LAG_BUCKETS, float("inf")), lag.buckets, strict=True):
                running_total += n
                cumulative.append((_bound(bound), float(running_total)))
            h.add_metric([job_type], cumulative, sum_value=lag.total)
        yield h


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(float(value))


def registry(collector: PostgresCollector) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    return reg
