"""What every stack of the e2e section shares: process plumbing and the round's CPU.

A stack is one system under test (the bridge, plain Celery in one of its
configurations, a peer such as Procrastinate): :meth:`Stack.start` starts and
warms it up, :meth:`Stack.round` runs N no-op jobs through it and returns the
round's numbers, :meth:`Stack.finish` adds what is read once at the end.
"""

from __future__ import annotations

import contextlib
import statistics
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import redis

from bench.config import BenchConfig
from bench.infra import Services
from bench.procstat import peak_rss_mib, tree

POLL_S = 0.1


def redis_cpu_seconds(client: redis.Redis) -> float:
    """CPU of the whole Redis server (shared with whatever else uses it)."""
    info: dict[str, Any] = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def tree_rss(root: int) -> dict[str, float]:
    pids = tree(root)
    children = [peak_rss_mib(p) for p in pids if p != root]
    return {"main": peak_rss_mib(root), "child_max": max(children, default=0.0)}


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Field by field median of the rounds' numbers (nested dicts too)."""
    out: dict[str, Any] = {}
    for key, first in rounds[0].items():
        if isinstance(first, dict):
            out[key] = median_of([r[key] for r in rounds])
        elif isinstance(first, int | float) and not isinstance(first, bool):
            out[key] = statistics.median(r[key] for r in rounds)
    return out


def with_totals(cpu_ms: dict[str, float], redis_ms: float) -> dict[str, float]:
    """``python`` (our processes), ``total`` (+ Postgres backends), ``all`` (+ Redis server)."""
    cpu_ms["python"] = sum(cpu_ms.get(k, 0.0) for k in ("worker", "beat", "publisher"))
    cpu_ms["total"] = cpu_ms["python"] + cpu_ms.get("postgres", 0.0)
    cpu_ms["redis_server_wide"] = redis_ms
    cpu_ms["all"] = cpu_ms["total"] + redis_ms
    return cpu_ms


class Stack:
    """Services of one side plus the context-manager plumbing."""

    label = ""

    def __init__(self, config: BenchConfig, workdir: Path, name: str) -> None:
        self.config = config
        self.services = Services(workdir / name, config.loglevel)
        self.services.workdir.mkdir(parents=True, exist_ok=True)
        self.exit = contextlib.ExitStack()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            for name in list(self.services.procs):
                print(f"----- {self.services.workdir.name}/{name}.log (tail)")
                print(self.services.log_tail(name))
        self.services.stop_all()
        self.exit.close()

    def start(self) -> None:
        raise NotImplementedError

    def round(self, n: int) -> dict[str, Any]:
        raise NotImplementedError

    def finish(self) -> dict[str, Any]:
        raise NotImplementedError
