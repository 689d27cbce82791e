"""The beat's decisions in ``MealScheduler.tick``, on a stub store and a fake clock.

The scheduler is built without redbeat's constructor (which connects to
Redis); redbeat's own tick is replaced by a scripted one, so each test says
what Redis did and checks what the beat did next: how long it sleeps, what
it claims, publishes, hands back and reaps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from kombu.exceptions import BatchPublishError
from redbeat.schedulers import RedBeatScheduler
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError

from tasks.beat import BACKOFF_MAX, MealScheduler
from tasks.errors import DatabaseUnavailable
from tasks.models import ClaimedJob
from tasks.producer import Producer
from tasks.rescuer import Rescuer
from tasks.settings import Settings
from tests.unit.stubs import T0, FakeClock, StubStore, claimed, later, reaped

DB: Any = object()
BATCH = 3


class Listener:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return False


class Redbeat:
    """redbeat's tick as scripted by the test: an interval, or an exception to raise."""

    def __init__(self) -> None:
        self.answers: list[float | BaseException] = []

    def tick(self, *args: Any, **kwargs: Any) -> float:
        answer = self.answers.pop(0) if self.answers else 5.0
        if isinstance(answer, BaseException):
            raise answer
        return answer


@pytest.fixture
def redbeat(monkeypatch: pytest.MonkeyPatch) -> Redbeat:
    scripted = Redbeat()
    monkeypatch.setattr(RedBeatScheduler, "tick", scripted.tick)
    return scripted


def scheduler(publish: Callable[[Sequence[ClaimedJob]], None] | None = None) -> MealScheduler:
    sched: MealScheduler = MealScheduler.__new__(MealScheduler)
    sched.settings = Settings(
        database_url="postgresql://u@h/db",
        redis_url="redis://h/0",
        tick_seconds=1.0,
        reap_seconds=5.0,
        claim_batch=BATCH,
    )
    sched.published = []  # type: ignore[attr-defined]
    sched.producer = Producer(DB, publish or sched.published.extend, BATCH)  # type: ignore[attr-defined]
    sched.rescuer = Rescuer(DB, 30)
    # Postgres reachable for longer than a lease: the reaper's outage rule
    # (tests/integration/test_rescuer.py) does not hold it back here.
    sched.rescuer._reachable_since = float("-inf")
    sched._next_broker_check = float("inf")  # Redis data loss: tests/unit/test_broker_watch.py
    sched._republish_due = False
    sched.listener = Listener()
    sched._next_reap = 0.0
    sched._backoff = 0.0
    sched.lock_key = "meal-scheduler:lock"
    sched.lock = object()  # held
    sched.max_interval = 5
    sched.ticks = []  # type: ignore[attr-defined]
    sched._record_tick = sched.ticks.append  # type: ignore[attr-defined,method-assign]
    return sched


def test_due_jobs_are_claimed_and_published_then_the_beat_sleeps_until_the_next(
    stub: StubStore, clock: FakeClock, redbeat: Redbeat
) -> None:
    sched = scheduler()
    stub.script("claim_due_jobs", claimed(2))
    stub.script("next_due_at", (later(0.4), T0))
    assert sched.tick() == 0.0
    assert [j.job_id for j in sched.published] == ["job-0", "job-1"]  # type: ignore[attr-defined]
    assert sched.listener.waits == [pytest.approx(0.4)]  # not a whole tick
    assert len(sched.ticks) == 1  # type: ignore[attr-defined]  # the tick's duration, for /metrics


def test_a_full_batch_keeps_going_without_sleeping(
    stub: StubStore, clock: FakeClock, redbeat: Redbeat
) -> None:
    sched = scheduler()
    stub.script("claim_due_jobs", claimed(BATCH))
    assert sched.tick() == 0.0
    assert sched.listener.waits == [] and stub.called("next_due_at") == []


def test_a_lost_lock_makes_the_beat_a_standby(
    stub: StubStore, clock: FakeClock, redbeat: Redbeat
) -> None:
    sched = scheduler()
    redbeat.answers = [LockError("lock no longer owned")]
    assert sched.tick() == 1.0
    assert sched.lock is None
    assert stub.called("claim_due_jobs") == []  # a standby dispatches nothing


def test_redis_down_backs_off_up_to_the_cap_and_claims_nothing(
    stub: StubStore, clock: FakeClock, redbeat: Redbeat
) -> None:
    sched = scheduler()
    redbeat.answers = [RedisConnectionError("refused")] * 6
    assert [sched.tick() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, BACKOFF_MAX, BACKOFF_MAX]
    assert stub.called("claim_due_jobs") == []


def test_postgres_down_backs_off_and_a_good_tick_resets_it(
    stub: StubStore, clock: FakeClock, redbeat: Redbeat
) -> None:
    sched = scheduler()
    down = DatabaseUnavailable("connection refused")
    stub.script("claim_due_jobs", down, down, [], down)
    assert [sched.tick() for _ in range(4)] == [0.5, 1.0, 0.0, 0.5]


@pytest.mark.parametrize(
    "failure",
    [
        RedisConnectionError("broker went away"),
        # kombu's pipelined publish (Producer.batch) when Redis resets the
        # connection at the flush: a KombuError, not an OperationalError.
        BatchPublishError("Redis publish batch failed; delivery is uncertain"),
    ],
)
def test_a_failed_publish_hands_the_claims_back(
    stub: StubStore, clock: FakeClock, redbeat: Redbeat, failure: Exception
) -> None:
    def publish(_: Sequence[ClaimedJob]) -> None:
        raise failure

    sched = scheduler(publish)
    stub.script("claim_due_jobs", claimed(2))
    assert sched.tick() == 0.5
    assert stub.called("release_claims") == [([100, 101],)]


def test_reaping_runs_every_reap_interval(
    stub: StubStore, clock: FakeClock, redbeat: Redbeat
) -> None:
    sched = scheduler()
    stub.script("reap_expired", [reaped("abandoned"), reaped("requeued", "job-8")])
    sched.tick()
    clock.advance(4.9)
    sched.tick()
    assert len(stub.called("reap_expired")) == 1
    clock.advance(0.2)
    sched.tick()
    assert len(stub.called("reap_expired")) == 2
