"""The beat's tick durations, kept in Redis for ``/metrics``.

The tick's duration lives only in the beat process, and Postgres holds no
trace of it, so the active beat adds each tick (its reap, claim and publish;
not the sleep that follows) to a small Redis hash, ``<prefix>:beat-ticks``:
a count, a sum and one counter per bucket, in one pipelined round trip per
tick. The dashboard's ``/metrics`` reads the hash as a histogram, so a
scrape of any web process shows the active beat's ticks, whichever host it
runs on. A Redis error while recording is ignored: the statistics are not
worth a tick.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

# Seconds. A tick's work is normally a few milliseconds (one claim, one
# pipelined publish); a full batch of 500 jobs about 0.1 s.
TICK_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


def key(prefix: str) -> str:
    return f"{prefix}:beat-ticks"


def bucket_field(seconds: float) -> str:
    """The hash field of the smallest bucket holding ``seconds`` (``inf`` past the last)."""
    i = bisect.bisect_left(TICK_BUCKETS, seconds)
    return "le:inf" if i == len(TICK_BUCKETS) else f"le:{TICK_BUCKETS[i]!r}"


def record(client: Any, prefix: str, seconds: float) -> None:
    pipe = client.pipeline(transaction=False)
    name = key(prefix)
    pipe.hincrby(name, "count", 1)
    pipe.hincrbyfloat(name, "sum", seconds)
    pipe.hincrby(name, bucket_field(seconds), 1)
    pipe.hset(name, "last", repr(seconds))
    pipe.execute()


@dataclass(frozen=True)
class TickStats:
    count: int
    total: float
    last: float
    buckets: tuple[tuple[str, int], ...]  # (le, cumulative count), ending with +Inf


def read(client: Any, prefix: str) -> TickStats | None:
    raw: dict[bytes, bytes] = client.hgetall(key(prefix))
    if not raw:
        return None
    fields = {k.decode(): v.decode() for k, v in raw.items()}
    cumulative, running = [], 0
    for bound in TICK_BUCKETS:
        running += int(fields.get(f"le:{bound!r}", 0))
        cumulative.append((repr(bound), running))
    running += int(fields.get("le:inf", 0))
    cumulative.append(("+Inf", running))
    return TickStats(
        count=int(fields.get("count", 0)),
        total=float(fields.get("sum", 0.0)),
        last=float(fields.get("last", 0.0)),
        buckets=tuple(cumulative),
    )
