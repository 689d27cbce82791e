"""``scheduler``: the global switch and settings."""

from __future__ import annotations

import argparse

from tasks import operator as op
from tasks import output
from tasks.cli.common import DAY, RETRIES, Groups, database, group, require_changes
from tasks.settings import Settings


def cmd_scheduler_status(args: argparse.Namespace, settings: Settings) -> int:
    status = op.scheduler_status(
        database(settings),
        redis_url=settings.redis_url,
        key_prefix=settings.key_prefix,
        heartbeat_seconds=settings.heartbeat_seconds,
    )
    output.show("scheduler_status", status, as_json=args.json)
    return 0


def cmd_scheduler_enable(args: argparse.Namespace, settings: Settings) -> int:
    config = op.set_scheduler_enabled(database(settings), args.enabled)
    output.show("scheduler_enabled", config, as_json=args.json)
    return 0


def cmd_scheduler_set(args: argparse.Namespace, settings: Settings) -> int:
    changes = op.ConfigChanges(
        max_concurrent_jobs=args.max_concurrent,
        timezone=args.timezone,
        max_retries=args.max_retries,
        retry_base_seconds=args.retry_base,
        queue_timeout_seconds=args.queue_timeout,
    )
    require_changes(
        changes, "--max-concurrent, --timezone, --max-retries, --retry-base or --queue-timeout"
    )
    update = op.update_scheduler_config(database(settings), changes)
    output.show("config_update", update, as_json=args.json, new_zone=changes.timezone is not None)
    return 0


def register(groups: Groups, common: argparse.ArgumentParser) -> None:
    sched = group(groups, "scheduler", "the global switch and settings")
    p = sched.add_parser("status", parents=[common], help="health at a glance")
    p.set_defaults(handler=cmd_scheduler_status)
    p = sched.add_parser("pause", parents=[common], help="stop new dispatch")
    p.set_defaults(handler=cmd_scheduler_enable, enabled=False)
    p = sched.add_parser("resume", parents=[common], help="resume dispatch (wakes the beat)")
    p.set_defaults(handler=cmd_scheduler_enable, enabled=True)
    p = sched.add_parser("set", parents=[common], help="change scheduler_config")
    p.add_argument(
        "--max-concurrent", type=op.int_between(1, 10_000_000), metavar="N", help="queued + running"
    )
    p.add_argument("--timezone", metavar="ZONE", help="IANA zone for daily/weekly jobs")
    p.add_argument("--max-retries", type=RETRIES, metavar="N", help="default retries per job")
    p.add_argument("--retry-base", type=DAY, metavar="SECONDS", help="first retry delay")
    p.add_argument("--queue-timeout", type=DAY, metavar="SECONDS", help="requeue after this")
    p.set_defaults(handler=cmd_scheduler_set)
