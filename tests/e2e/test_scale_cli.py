"""``python -m bench population`` and ``week`` as a user runs them: tiny sizes, real output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import OwnRedis

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_population_and_week_commands(tmp_path: Path) -> None:
    out = tmp_path / "population.json"
    subprocess.run(
        [sys.executable, "-m", "bench", "population", "--users", "40", "--recipes", "10",
         "--trigger-sample", "10", "--json", str(out)],
        cwd=REPO, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert report["jobs"] == 120
    assert sum(report["zones"].values()) == 40
    assert report["per_user_cpu_ms"]["install_defaults"] > 0

    out = tmp_path / "week.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "week", "--users", "30", "--json", str(out)],
        check=False, cwd=REPO, capture_output=True, timeout=180,
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert done.returncode == 0, done.stderr[-2000:]
    assert report["check"]["ok"]
    assert report["check"]["runs_in_local_week"]["daily_advisor"] == 7 * 30


@pytest.mark.slow
def test_storm_command(tmp_path: Path) -> None:
    """A storm of 200 with a real beat and worker, on a Redis of the test's own."""
    redis_server = OwnRedis()
    redis_server.start()
    try:
        out = tmp_path / "storm.json"
        env = {**os.environ, "BENCH_REDIS_URL": f"redis://127.0.0.1:{redis_server.port}"}
        done = subprocess.run(
            [sys.executable, "-m", "bench", "storm", "--users", "200", "--recipes", "30",
             "--sample", "5", "--lead-seconds", "8", "--worker-seconds", "4",
             "--json", str(out)],
            check=False, cwd=REPO, env=env, capture_output=True, timeout=240,
        )  # fmt: skip
    finally:
        redis_server.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["due_at_once"] == 200
    assert report["dispatch"]["jobs"] == 200
    assert report["dispatch"]["redis_bytes_per_message"] > 0
    assert report["handler"]["plans_created"] == 5
    assert set(report["worker"]) == {"stale_statistics", "after_analyze", "failed"}
    assert report["worker"]["failed"] == 0
    assert report["after_vacuum"]["scheduled_jobs"]["dead"] == 0
