from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

import pytest

from tasks.db import Database
from tasks.migrate import migrate
from tests.support import OwnPostgres, service_env, start_beat, start_worker, stop


@dataclass
class Stack:
    """Real `celery worker` and `celery beat` processes for one test."""

    db_url: str
    redis_url: str
    tmp: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Popen[bytes]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return service_env(self.db_url, self.redis_url, **self.extra_env)

    def worker(
        self,
        name: str = "w1",
        concurrency: int = 2,
        *,
        node: bool = True,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> Popen[bytes]:
        """A worker logging to ``<name>.log``; ``node=False`` leaves out ``-n``."""
        proc = start_worker(
            {**self.env(), **(env or {})},
            self.tmp / f"{name}.log",
            concurrency,
            name if node else None,
            args,
        )
        self.procs[name] = proc
        return proc

    def beat(self, name: str = "beat") -> Popen[bytes]:
        proc = start_beat(self.env(), self.tmp / f"{name}.log", self.tmp / f"{name}.schedule")
        self.procs[name] = proc
        return proc

    def logs(self) -> str:
        return "\n".join(
            f"----- {p.name}\n{p.read_text(errors='replace')[-6000:]}"
            for p in sorted(self.tmp.glob("*.log"))
        )

    def stop_all(self) -> None:
        for proc in self.procs.values():
            stop(proc)


@pytest.fixture
def stack(
    db_url: str, redis_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    s = Stack(db_url, redis_url, tmp_path)
    yield s
    s.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(s.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    rep = yield
    setattr(item, "rep_" + rep.when, rep)
    return rep


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    """A migrated Postgres server of the test's own, to stop and start at will."""
    root = Path(tempfile.mkdtemp(prefix="meal-pg-"))
    root.chmod(0o777)
    server = OwnPostgres(root)
    server.init()
    try:
        database = Database(server.url)
        migrate(database)
        database.close()
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
