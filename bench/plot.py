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
        keys = [k for k in e2e.get("order", ["plain", "bridge"]) if "jobs_per_s" in e2e[k]]
        labels = [e2e.get("labels", {}).get(k, k) for k in keys]
        sides = [e2e[k] for k in keys]
        a = next(ax)
        a.bar(labels, [s["jobs_per_s"] for s in sides], color=[f"C{i}" for i in range(len(keys))])
        a.set_ylabel("jobs/s")
        a.set_title(f"throughput, {e2e['jobs']:,} no-op jobs")
        a.tick_params(axis="x", labelrotation=20)

        a = next(ax)
        parts = [
            ("worker", "worker"),
            ("beat / publisher", "beat"),
            ("Postgres backends", "postgres"),
            ("Redis server", "redis_server_wide"),
        ]
        bottom = [0.0] * len(keys)
        for label, part in parts:
            values = [
                s["cpu_ms_per_job"].get(part, s["cpu_ms_per_job"].get("publisher", 0.0))
                if part == "beat"
                else s["cpu_ms_per_job"].get(part, 0.0)
                for s in sides
            ]
            a.bar(labels, values, bottom=bottom, label=label)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        a.set_ylabel("CPU ms per job")
        a.set_title("CPU time per job, all processes")
        a.tick_params(axis="x", labelrotation=20)
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
