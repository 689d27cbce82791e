"""The bench cannot rot: a tiny ``python -m bench --quick`` run of every section.

It checks the report's shape (every section, every headline a number), never
its values: speed is measured by hand with the full bench, not by a test.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO

pytestmark = pytest.mark.slow


def number(report: dict[str, Any], *path: str) -> float:
    value: Any = report
    for key in path:
        assert isinstance(value, dict) and key in value, f"missing {'.'.join(path)}"
        value = value[key]
    assert isinstance(value, int | float) and not isinstance(value, bool), (path, value)
    assert math.isfinite(value) and value >= 0, (path, value)
    return float(value)


@pytest.mark.timeout(180)
def test_quick_bench_reports_every_section(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKS_", "CELERY"))}
    if "TEST_DATABASE_URL" in os.environ:
        env["BENCH_DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    if "TEST_REDIS_URL" in os.environ:
        env["BENCH_REDIS_URL"] = os.environ["TEST_REDIS_URL"]
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    report = json.loads(out.read_text())
    assert "e2e:" in proc.stdout and "lag (tick" in proc.stdout  # the table was printed

    assert report["meta"]["config"]["quick"] is True
    sides = ["bridge", "plain", "plain_late_ack"]
    for peer in ("procrastinate", "pgqueuer"):
        if "skipped" not in report["e2e"][peer]:  # installed with .[bench]
            sides.append(peer)
    assert report["e2e"]["order"][0] == "plain"  # Celery at its defaults comes first
    for side in sides:
        assert number(report, "e2e", side, "jobs_per_s") > 0
        for part in ("worker", "python", "total", "all"):
            number(report, "e2e", side, "cpu_ms_per_job", part)
        number(report, "e2e", side, "peak_rss_mib", "worker", "main")
        number(report, "e2e", side, "peak_rss_mib", "worker", "child_max")
    number(report, "e2e", "bridge", "cpu_ms_per_job", "beat")
    number(report, "e2e", "bridge", "cpu_ms_per_job", "postgres")
    number(report, "e2e", "plain", "cpu_ms_per_job", "publisher")
    number(report, "e2e", "plain_late_ack", "cpu_ms_per_job", "publisher")
    for side in sides[1:]:
        number(report, "e2e", "ratios", side, "throughput")
        number(report, "e2e", "ratios", side, "cpu_all")
    number(report, "e2e", "bridge", "peak_rss_mib", "beat", "main")
    number(report, "e2e", "bridge", "postgres", "xacts_per_job")
    number(report, "e2e", "throughput_ratio")
    assert len(report["e2e"]["per_round"]) == report["e2e"]["rounds"] == 1

    assert number(report, "dispatch", "jobs_per_s") > 0
    number(report, "dispatch", "beat_cpu_ms_per_job")

    claim = report["claim"]
    assert claim["rows"]["total"] == 2000
    number(report, "claim", "batch_claim", "us_per_job")
    number(report, "claim", "empty_claim_idle", "p50_ms")
    number(report, "claim", "empty_claim_after_burst", "p50_ms")
    number(report, "claim", "one_by_one", "us_per_job")
    for name in ("claim", "empty_claim_idle", "get_next_pending_job"):
        summary = claim["explain"][name]["summary"]
        assert "idx_scheduled_jobs_due" in summary["indexes"], summary
        assert claim["explain"][name]["plans"], name

    for kind in ("scheduled", "manual"):
        for stat in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
            number(report, "lag", kind, stat)
        assert report["lag"][kind]["n"] > 0
