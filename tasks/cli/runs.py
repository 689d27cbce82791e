"""``runs``: execution history."""

from __future__ import annotations

import argparse

from tasks import operator as op
from tasks import output
from tasks.cli.common import Groups, database, group, positive_int
from tasks.ids import EXECUTION_STATUSES
from tasks.settings import Settings


def cmd_runs_list(args: argparse.Namespace, settings: Settings) -> int:
    since = None if args.since is None else op.parse_since("--since", args.since)
    runs = op.list_runs(
        database(settings),
        job_id=args.job,
        status=args.status,
        since=since,
        limit=args.limit,
    )
    output.show("runs", runs, as_json=args.json)
    return 0


def cmd_runs_show(args: argparse.Namespace, settings: Settings) -> int:
    output.show("run", op.get_run(database(settings), args.execution_id), as_json=args.json)
    return 0


def register(groups: Groups, common: argparse.ArgumentParser) -> None:
    runs = group(groups, "runs", "execution history")
    p = runs.add_parser("list", parents=[common], help="executions, newest first")
    p.add_argument("--job", metavar="ID")
    p.add_argument("--status", choices=EXECUTION_STATUSES)
    p.add_argument("--since", metavar="ISO_TIME|24h", help="an ISO time, or 90m, 24h, 7d ago")
    p.add_argument("--limit", type=positive_int, default=50)
    p.set_defaults(handler=cmd_runs_list)
    p = runs.add_parser("show", parents=[common], help="one execution, with its output or error")
    p.add_argument("execution_id", metavar="ID", type=positive_int)
    p.set_defaults(handler=cmd_runs_show)
