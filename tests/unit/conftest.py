"""The fast tier: no servers, no network, seconds for the whole folder.

The suite-wide ``servers_up`` check is replaced by one that asks for
nothing, and every socket connection is refused: a unit test that reaches
for Postgres or Redis fails at once instead of becoming slow.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tasks import beat, execution
from tests.unit.stubs import FakeClock, StubStore, install


@pytest.fixture(scope="session", autouse=True)
def servers_up() -> None:
    """Nothing to check: this tier never talks to a server."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"tests/unit must not connect anywhere (tried {address!r})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> StubStore:
    """tasks.store answered by a StubStore for this test."""
    return install(monkeypatch, StubStore())


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The worker's and the beat's ``time`` (monotonic, sleep) on a fake clock."""
    fake = FakeClock()
    monkeypatch.setattr(execution, "time", fake)
    monkeypatch.setattr(beat, "time", fake)
    return fake
