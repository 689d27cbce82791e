"""``--png``: throughput, CPU per job and the lag distribution in one figure.

matplotlib is optional (not a dependency of the package): without it this
says so and writes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def write(results: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--png: matplotlib is not installed (pip install matplotlib)", file=sys.stderr)
        return False

    e2e = results.get("e2e", {})
    lag = results.get("lag", {})
    has_e2e = "bridge" in e2e
    has_lag = "samples_s" in lag
    panels = 2 * has_e2e + has_lag
    if not panels:
        print("--png: no e2e or lag results to plot", file=sys.stderr)
        return False
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), squeeze=False)
    ax = iter(axes[0])

    if has_e2e:
        b, p = e2e["bridge"], e2e["plain"]
        a = next(ax)
        a.bar(["bridge", "plain Celery"], [b["jobs_per_s"], p["jobs_per_s"]], color=["C0", "C1"])
        a.set_ylabel("jobs/s")
        a.set_title(f"throughput, {e2e['jobs']:,} no-op jobs (ratio {e2e['throughput_ratio']:.2f})")

        a = next(ax)
        parts = [
            ("worker", b["cpu_ms_per_job"]["worker"], p["cpu_ms_per_job"]["worker"]),
            ("beat / publisher", b["cpu_ms_per_job"]["beat"], p["cpu_ms_per_job"]["publisher"]),
            ("Postgres backends", b["cpu_ms_per_job"]["postgres"], 0.0),
        ]
        bottom = [0.0, 0.0]
        for label, bridge_ms, plain_ms in parts:
            a.bar(["bridge", "plain Celery"], [bridge_ms, plain_ms], bottom=bottom, label=label)
            bottom = [bottom[0] + bridge_ms, bottom[1] + plain_ms]
        a.set_ylabel("CPU ms per job")
        a.set_title("CPU time per job")
        a.legend()

    if has_lag:
        a = next(ax)
        for name, samples in lag["samples_s"].items():
            ms = sorted(1000 * s for s in samples)
            if ms:
                a.step(ms, [(i + 1) / len(ms) for i in range(len(ms))], where="post", label=name)
        a.axvline(1000 * lag["tick_s"], color="grey", linestyle=":", label="one tick")
        a.set_xscale("log")
        a.set_xlabel("lag, ms (log)")
        a.set_ylabel("fraction of jobs started")
        a.set_title("dispatch lag")
        a.legend()

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
