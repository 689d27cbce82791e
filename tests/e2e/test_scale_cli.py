"""``python -m bench population`` and ``week`` as a user runs them: tiny sizes, real output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
