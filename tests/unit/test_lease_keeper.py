"""LeaseKeeper's bookkeeping on a stub store: what is renewed, what counts as lost."""

from __future__ import annotations

from typing import Any

from tasks.ids import DispatchKey, ExecutionId
from tasks.leases import LeaseKeeper
from tests.unit.stubs import StubStore

DB: Any = object()
KEY = DispatchKey("key-from-the-message")


class Keeper(LeaseKeeper):
    def _ensure_thread(self) -> None:  # renewals are driven by the test
        pass


def test_one_statement_renews_every_held_lease(stub: StubStore) -> None:
    keeper = Keeper(DB, 30)
    assert keeper.renew_once() == [] and stub.called("renew_leases") == []  # nothing held
    for i in (3, 1, 2):
        keeper.hold(ExecutionId(i), KEY)
    assert keeper.renew_once() == []
    assert stub.called("renew_leases") == [([1, 2, 3],)]


def test_a_lease_postgres_took_back_is_reported_once(stub: StubStore) -> None:
    keeper = Keeper(DB, 30)
    keeper.hold(ExecutionId(1), KEY)
    keeper.hold(ExecutionId(2), KEY)
    stub.script("renew_leases", [ExecutionId(2)])
    assert keeper.renew_once() == [2]
    assert keeper.release(ExecutionId(2)) is True
    assert keeper.release(ExecutionId(1)) is False
    assert keeper.release(ExecutionId(2)) is False  # reported once


def test_a_lease_released_during_renewal_is_not_lost(stub: StubStore) -> None:
    keeper = Keeper(DB, 30)
    keeper.hold(ExecutionId(5), KEY)

    def finish_meanwhile(ids: list[ExecutionId]) -> list[ExecutionId]:
        keeper.release(ExecutionId(5))  # the job completed while the UPDATE ran
        return ids  # ...so Postgres no longer had it running

    stub.script("renew_leases", finish_meanwhile)
    assert keeper.renew_once() == []
    assert keeper.release(ExecutionId(5)) is False
