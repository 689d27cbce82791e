"""Optional py-spy sampling of the worker processes and the beat (``--profile DIR``).

Each process gets ``py-spy record --gil --format raw`` for the measured part
of the run: collapsed stacks (one line per distinct stack with its sample
count), sampled only while the thread holds the GIL, so they show where
Python spends CPU, not where it waits (on Postgres, Redis or the pool's
pipes). :func:`summarize` turns a file into the functions holding most
samples, inclusive and self. py-spy itself costs CPU on the same cores, so
the numbers of a profiled run are not comparable with an unprofiled one.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.procstat import tree

RATE = 250
TOP = 25


@dataclass
class Profiler:
    name: str
    output: Path
    proc: subprocess.Popen[bytes]


def start(config: BenchConfig, roots: dict[str, int], workdir: Path) -> list[Profiler]:
    """One py-spy per process of each ``role: root pid`` tree (none without ``--profile``)."""
    if config.profile_dir is None:
        return []
    exe = shutil.which("py-spy")
    if exe is None:
        print("--profile: py-spy is not installed (pip install py-spy); not profiling")
        return []
    out_dir = config.profile_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    profilers = []
    for role, root in roots.items():
        for pid in tree(root):
            output = out_dir / f"{role}-{pid}.txt"
            argv = [exe, "record", "--pid", str(pid), "--rate", str(RATE), "--nonblocking", "--gil"]
            argv += ["--format", "raw", "--output", str(output)]
            log = (workdir / f"py-spy-{pid}.log").open("wb")
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
            log.close()
            profilers.append(Profiler(f"{role}-{pid}", output, proc))
    return profilers


def stop(profilers: list[Profiler]) -> dict[str, Any]:
    for p in profilers:
        if p.proc.poll() is None:
            p.proc.send_signal(signal.SIGINT)
    summaries: dict[str, Any] = {}
    for p in profilers:
        try:
            p.proc.wait(20)
        except subprocess.TimeoutExpired:
            p.proc.kill()
            p.proc.wait(5)
        if p.output.exists():
            summaries[p.name] = {"file": str(p.output), **summarize(p.output)}
    return summaries


def summarize(path: Path, top: int = TOP) -> dict[str, Any]:
    """Sample counts per function, inclusive (on the stack) and self (innermost frame)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return {"samples": 0, "inclusive": [], "self": []}

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * c / total, 1)) for name, c in counter.most_common(top)]

    return {"samples": total, "inclusive": share(inclusive), "self": share(own)}
