"""``python -m bench population|tablesize|storm|week``: the scale sections (docs/scale.md).

Each runs on a throwaway ``bench_<run>_*`` database (dropped at the end,
also on Ctrl-C, unless ``--keep``), prints progress on stderr and the
report as JSON on stdout (``--json PATH`` writes it too).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.infra import BenchError, Databases, connect

COMMANDS = ("population", "tablesize", "storm", "week")


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(float(s)) for s in text.split(",") if s.strip())


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    pop = sub.add_parser("population", help="N users over real zones, their jobs, catalog, log")
    pop.add_argument("--users", type=int, required=True)
    pop.add_argument("--recipes", type=int, default=400)
    pop.add_argument(
        "--trigger-sample",
        type=int,
        default=1000,
        help="users inserted with the users trigger on (the rest: install-defaults)",
    )
    pop.add_argument("--log-share", type=float, default=0.3, help="share of users with a food log")
    pop.add_argument("--log-days", type=int, default=7)

    size = sub.add_parser("tablesize", help="idle tick, claim and status against table size")
    size.add_argument("--sizes", type=_sizes, default=(1_000, 100_000, 1_000_000, 3_000_000))
    size.add_argument("--executions", type=int, default=10_000_000)
    size.add_argument("--repeat", type=int, default=200)
    size.add_argument("--due", type=int, default=5000)

    storm = sub.add_parser("storm", help="N weekly generations due at one instant")
    storm.add_argument("--users", type=int, default=300_000)
    storm.add_argument("--recipes", type=int, default=400)
    storm.add_argument("--sample", type=int, default=300, help="handler runs timed in-process")
    storm.add_argument(
        "--lead-seconds",
        type=float,
        default=20.0,
        help="how far ahead the storm falls due (the beat starts meanwhile)",
    )
    storm.add_argument(
        "--worker-seconds",
        type=float,
        default=60.0,
        help="how long one worker process (-c 1) drains the storm",
    )

    week = sub.add_parser("week", help="seven simulated days on the test clock, DST included")
    week.add_argument("--users", type=int, default=10_000)
    week.add_argument(
        "--start",
        type=date.fromisoformat,
        default=date(2026, 10, 22),
        help="the first local day (a Thursday; default 2026-10-22, EU fall-back)",
    )
    week.add_argument("--batch", type=int, default=5000)

    for sp in (pop, size, storm, week):
        sp.add_argument("--json", type=Path, metavar="PATH", help="also write the report here")
        sp.add_argument("--keep", action="store_true", help="keep the database (prints its URL)")
    return p.parse_args(argv)  # fmt: skip


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def execute(args: argparse.Namespace, config: BenchConfig, url: str) -> dict[str, Any]:
    from bench import bloat

    with connect(url) as conn:
        if args.command == "population":
            from bench.population import PopulationSpec, populate

            spec = PopulationSpec(
                users=args.users,
                recipes=args.recipes,
                trigger_sample=args.trigger_sample,
                log_share=args.log_share,
                log_days=args.log_days,
            )
            result = populate(conn, spec)
            result["tables"] = bloat.snapshot(conn)
            return result
        if args.command == "tablesize":
            from bench import tablesize

            return tablesize.run(conn, args.sizes, args.executions, args.repeat, args.due, _log)
        if args.command == "week":
            from bench import week

            result = week.simulate(conn, args.users, args.start, args.batch)
            result["tables"] = bloat.snapshot(conn)
            return result
    from bench import storm

    return storm.run(config, url, args, _log)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    config = BenchConfig.from_env()
    dbs = Databases(config)
    try:
        dbs.check()
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = False
    result: dict[str, Any] = {}
    started = time.monotonic()
    try:
        url = dbs.create(args.command)
        _log(f"{args.command}: database {url.rsplit('/', 1)[-1]}")
        result = execute(args, config, url)
    except BenchError as exc:
        failed = True
        result = {"error": str(exc)}
    except KeyboardInterrupt:
        failed = True
        result = {"error": "interrupted"}
    finally:
        if args.keep and not failed:
            dbs.created.clear()
            _log(f"kept {url}")
        dbs.drop_all()
    result["duration_s"] = round(time.monotonic() - started, 1)
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    if args.command == "week" and not result.get("check", {}).get("ok", False):
        failed = True
    return 1 if failed else 0
