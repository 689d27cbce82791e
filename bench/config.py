"""What one bench run measures and where: read once from the command line."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ("e2e", "dispatch", "lifecycle", "claim", "lag")

# Redis db numbers reserved for the bench (the tests cycle through 1-11).
# The patched bridge of an e2e run with --patch borrows the dispatch section's
# db: sections run one after the other, and each flushes its db first.
REDIS_DB = {"bridge": 12, "plain": 13, "dispatch": 14, "bridge_patched": 14, "lag": 15}


@dataclass(frozen=True)
class BenchConfig:
    admin_url: str = field(repr=False)
    redis_base: str = field(repr=False)
    sections: tuple[str, ...] = SECTIONS
    n: int = 2000
    rounds: int = 3
    concurrency: int = 2
    dispatch_jobs: int = 20_000
    claim_rows: int = 1_000_000
    claim_batch: int = 500
    lag_jobs: int = 300
    lag_spread: float = 60.0
    triggers: int = 50
    loglevel: str = "INFO"
    timeout: float = 300.0
    patches: tuple[str, ...] = ()
    profile_dir: Path | None = None
    keep_logs: bool = False
    quick: bool = False
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @classmethod
    def from_env(cls) -> BenchConfig:
        return cls(
            admin_url=os.environ.get(
                "BENCH_DATABASE_URL", "postgresql://root@127.0.0.1:5432/postgres"
            ),
            redis_base=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/"),
        )

    def quick_version(self) -> BenchConfig:
        """A smoke run: every section, tiny sizes, well under a minute."""
        return replace(
            self,
            n=30,
            rounds=1,
            dispatch_jobs=200,
            claim_rows=2000,
            lag_jobs=8,
            lag_spread=3.0,
            triggers=4,
            timeout=40.0,
            quick=True,
        )

    def redis_url(self, role: str) -> str:
        return f"{self.redis_base}/{REDIS_DB[role]}"
