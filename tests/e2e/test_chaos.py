"""A 2-minute chaos soak (``python -m bench chaos``): faults of every kind, invariants hold.

Seed 1's schedule holds every kind of fault (SIGKILLed workers and beats,
a SIGSTOPped beat, Redis restarted empty, Postgres backends terminated,
Postgres restarted). The soak runs on servers of its own, never on the
shared ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.chaos import KINDS, schedule
from tests.support import REPO

pytestmark = pytest.mark.slow

SEED = 1


def test_seed_one_schedules_every_kind_of_fault_and_replays() -> None:
    faults = schedule(SEED, 120)
    assert {f.kind for f in faults} == set(KINDS)
    assert schedule(SEED, 120) == faults


@pytest.mark.timeout(420)
def test_two_minutes_of_chaos_break_no_invariant(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKS_", "CELERY"))}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "chaos", "--minutes", "2", "--seed", str(SEED),
         "--json", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=400, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert report["violations"] == {}
    assert set(report["faults"]) == set(KINDS)
    assert report["executions"]["completed"] == report["jobs"] > 0
    assert report["invariants_checked"] == 8
    assert "no invariant broken" in proc.stderr
