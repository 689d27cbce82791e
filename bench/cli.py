"""``python -m bench``: run the sections, print the table, write JSON (and a PNG)."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import claim, dispatch, e2e, lag, lifecycle, machine, report
from bench.config import SECTIONS, BenchConfig
from bench.infra import BenchError, Databases

Section = Callable[[BenchConfig, Databases, Path], dict[str, Any]]
RUNNERS: dict[str, Section] = {
    "e2e": e2e.run,
    "dispatch": dispatch.run,
    "lifecycle": lifecycle.run,
    "claim": claim.run,
    "lag": lag.run,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark the bridge on the local Postgres and Redis (docs/performance.md).",
    )
    p.add_argument("--n", type=int, default=2000, help="jobs in the e2e section (default 2000)")
    p.add_argument(
        "--rounds", type=int, default=3, help="e2e rounds, plain and bridge in turn (median)"
    )
    p.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections (default all: {','.join(SECTIONS)})",
    )
    p.add_argument(
        "--claim-rows", type=int, default=1_000_000, help="rows in scheduled_jobs for the claim"
    )
    p.add_argument(
        "--dispatch-jobs", type=int, default=20_000, help="jobs the beat dispatches alone"
    )
    p.add_argument("--lag-jobs", type=int, default=300, help="jobs due at random instants")
    p.add_argument("--lag-spread", type=float, default=60.0, help="seconds they are spread over")
    p.add_argument("--triggers", type=int, default=50, help="manual triggers, spaced apart")
    p.add_argument("--concurrency", type=int, default=2, help="prefork children per worker")
    p.add_argument("--loglevel", default="INFO", help="worker and beat log level (default INFO)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")
    p.add_argument("--png", type=Path, metavar="PATH", help="plot throughput and lag (matplotlib)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every section")
    p.add_argument(
        "--patch",
        default="",
        help="comma-separated experiments applied to worker and beat (bench/patches.py)",
    )
    p.add_argument("--profile", type=Path, metavar="DIR", help="py-spy the e2e bridge run")
    p.add_argument("--keep-logs", action="store_true", help="keep worker and beat logs")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace) -> BenchConfig:
    sections = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"--only: unknown section(s) {', '.join(unknown)}; know {SECTIONS}")
    config = replace(
        BenchConfig.from_env(),
        sections=sections,
        n=args.n,
        rounds=args.rounds,
        concurrency=args.concurrency,
        dispatch_jobs=args.dispatch_jobs,
        claim_rows=args.claim_rows,
        lag_jobs=args.lag_jobs,
        lag_spread=args.lag_spread,
        triggers=args.triggers,
        loglevel=args.loglevel,
        patches=tuple(p.strip() for p in args.patch.split(",") if p.strip()),
        profile_dir=args.profile,
        keep_logs=args.keep_logs,
    )
    if args.patch:
        from bench.patches import PATCHES

        unknown = sorted(set(config.patches) - set(PATCHES))
        if unknown:
            raise SystemExit(f"--patch: unknown {', '.join(unknown)}; know {sorted(PATCHES)}")
    return config.quick_version() if args.quick else config


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C: services stopped, databases dropped


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["chaos"]:
        from bench import chaos

        return chaos.main(argv[1:])
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    config = build_config(args)
    dbs = Databases(config)
    try:
        dbs.check()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{config.run_id}-"))
    results: dict[str, Any] = {"meta": machine.describe(config)}
    failed = False
    started = time.monotonic()
    try:
        for name in config.sections:
            print(f"== {name} ...", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            try:
                results[name] = RUNNERS[name](config, dbs, workdir)
            except BenchError as exc:
                failed = True
                results[name] = {"error": str(exc)}
                print(f"== {name} failed: {exc}", file=sys.stderr)
            print(f"== {name} took {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        failed = True
        print("interrupted; cleaning up", file=sys.stderr)
    finally:
        dbs.drop_all()
        if config.keep_logs or failed:
            print(f"logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    results["meta"]["duration_s"] = round(time.monotonic() - started, 1)

    print(report.table(results))
    text = json.dumps(results, indent=2, default=str)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    if args.png:
        from bench import plot

        plot.write(results, args.png)
    return 1 if failed else 0
