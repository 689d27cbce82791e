"""CPU time and peak memory of process trees, read from /proc (Linux).

A process tree's CPU is the user+sys time of every live process in it plus
the time of children they have already reaped (cutime/cstime), so a prefork
child that was replaced is still counted and nothing is counted twice.
Postgres backends are separate processes of another user; their
/proc/<pid>/stat is world-readable, so the same code counts their CPU.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces: split after its ')'.
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, with_reaped_children: bool = True) -> float:
    """utime+stime of ``pid`` (plus cutime+cstime), 0.0 if it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # After the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children_of(current))
    return out


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of ``pid`` in MiB, 0.0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class CpuSample:
    """CPU seconds per pid at one moment; subtract two to get what was spent between."""

    seconds: dict[int, float] = field(default_factory=dict)

    @classmethod
    def of_trees(cls, roots: Iterable[int]) -> CpuSample:
        return cls({p: cpu_seconds(p) for root in roots for p in tree(root)})

    @classmethod
    def of_pids(cls, pids: Iterable[int]) -> CpuSample:
        return cls({p: cpu_seconds(p, with_reaped_children=False) for p in pids})

    def since(self, before: CpuSample, only: Iterable[int] | None = None) -> float:
        """CPU spent since ``before`` by the processes of this sample (new ones from 0).

        ``only`` restricts the sum to some pids.
        """
        pids = set(self.seconds) if only is None else set(only) & set(self.seconds)
        return sum(max(0.0, self.seconds[p] - before.seconds.get(p, 0.0)) for p in pids)


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (everyone's, from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK
