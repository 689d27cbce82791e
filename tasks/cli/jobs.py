"""``jobs``: list, inspect and change jobs."""

from __future__ import annotations

import argparse
import sys
from typing import get_args

from tasks import operator as op
from tasks import output
from tasks.cli.common import (
    RETRIES,
    TIME_HELP,
    TIMEOUT,
    USER_ID,
    Groups,
    database,
    group,
    json_arg,
    positive_int,
    require_changes,
    time_arg,
)
from tasks.errors import ConfigError
from tasks.ids import FREQUENCY_TYPES, PRIORITIES, JobStatus
from tasks.settings import Settings

JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)


def cmd_jobs_list(args: argparse.Namespace, settings: Settings) -> int:
    jobs = op.list_jobs(
        database(settings),
        status=args.status,
        job_type=args.type,
        user_id=args.user,
        limit=args.limit,
    )
    output.show("jobs", jobs, as_json=args.json)
    return 0


def cmd_jobs_show(args: argparse.Namespace, settings: Settings) -> int:
    output.show("job_detail", op.show_job(database(settings), args.job_id), as_json=args.json)
    return 0


def cmd_jobs_add(args: argparse.Namespace, settings: Settings) -> int:
    spec = op.NewJob(
        job_id=args.job_id,
        job_type=args.type,
        frequency_type=args.frequency,
        config=op.parse_json("--config", args.config),
        priority=args.priority,
        at=time_arg(args, "at", "--at"),
        user_id=args.user,
        parameters=op.parse_json("--params", args.params),
        max_retries=args.max_retries,
        timeout_seconds=args.timeout,
        enabled=not args.disabled,
        then=args.then or (),
    )
    db = database(settings)
    if not args.force:
        op.require_live_job_type(db, spec.job_type, settings.heartbeat_seconds)
    output.show("job_added", op.add_job(db, spec), as_json=args.json)
    return 0


def cmd_jobs_edit(args: argparse.Namespace, settings: Settings) -> int:
    changes = op.JobChanges(
        frequency_type=args.frequency,
        config=json_arg(args, "config", "--config"),
        priority=args.priority,
        parameters=json_arg(args, "params", "--params"),
        at=time_arg(args, "at", "--at"),
        max_retries=args.max_retries,
        timeout_seconds=args.timeout,
    )
    require_changes(
        changes, "--frequency, --config, --priority, --params, --at, --max-retries or --timeout"
    )
    job = op.edit_job(database(settings), args.job_id, changes)
    output.show("job_edited", job, as_json=args.json)
    return 0


def cmd_jobs_trigger(args: argparse.Namespace, settings: Settings) -> int:
    db = database(settings)
    job = op.trigger_job(db, args.job_id)
    paused = not op.get_scheduler_config(db).enabled
    output.show("job_triggered", job, as_json=args.json, paused=paused)
    return 0


def cmd_jobs_install_defaults(args: argparse.Namespace, settings: Settings) -> int:
    from tasks.jobs.defaults import install_defaults

    result = install_defaults(database(settings))
    output.show("install_result", result.as_dict(), as_json=args.json)
    return 0


def cmd_jobs_enable(args: argparse.Namespace, settings: Settings) -> int:
    job = op.set_job_enabled(database(settings), args.job_id, args.enabled)
    output.show("job_enabled", job, as_json=args.json)
    return 0


def cmd_jobs_remove(args: argparse.Namespace, settings: Settings) -> int:
    db = database(settings)
    if not args.yes:
        job = op.get_job(db, args.job_id)
        history = op.count_job_executions(db, args.job_id)
        question = f"remove job {job.id} ({job.job_type}) and its {history} executions? [y/N] "
        if not sys.stdin.isatty():
            raise ConfigError(f'refusing to remove job "{job.id}" without --yes (not a terminal)')
        if input(question).strip().lower() not in ("y", "yes"):
            print("not removed")
            return 1
    output.show("job_removed", op.remove_job(db, args.job_id), as_json=args.json)
    return 0


def cmd_jobs_next(args: argparse.Namespace, settings: Settings) -> int:
    db = database(settings)
    start = time_arg(args, "start", "--from")
    if args.job_id is not None:
        if args.frequency is not None or args.config is not None:
            raise ConfigError("give a job ID or --frequency/--config, not both")
        preview = op.preview_job(db, args.job_id, args.count, start=start)
    elif args.frequency is None:
        raise ConfigError("give a job ID, or --frequency with --config")
    else:
        config = {} if args.config is None else op.parse_json("--config", args.config)
        preview = op.preview_schedule(db, args.frequency, config, args.count, start=start)
    output.show("preview", preview, as_json=args.json)
    return 0


def register(groups: Groups, common: argparse.ArgumentParser) -> None:  # noqa: PLR0915 - one parser
    jobs = group(groups, "jobs", "list, inspect and change jobs")

    p = jobs.add_parser("list", parents=[common], help="jobs, soonest next run first")
    p.add_argument("--status", choices=JOB_STATUSES)
    p.add_argument("--type", metavar="JOB_TYPE")
    p.add_argument("--user", type=USER_ID, metavar="USER_ID")
    p.add_argument("--limit", type=positive_int, default=100)
    p.set_defaults(handler=cmd_jobs_list)

    p = jobs.add_parser("show", parents=[common], help="a job, its dependencies, its last runs")
    p.add_argument("job_id", metavar="ID")
    p.set_defaults(handler=cmd_jobs_show)

    p = jobs.add_parser("add", parents=[common], help="create a job")
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--type", required=True, metavar="JOB_TYPE", help="the handler's job type")
    p.add_argument("--frequency", required=True, choices=FREQUENCY_TYPES)
    p.add_argument(
        "--config",
        default="{}",
        metavar="JSON",
        help='frequency config, e.g. \'{"day": 5, "hour": 6, "minute": 0}\' (default {})',
    )
    p.add_argument("--priority", choices=PRIORITIES, default="medium")
    p.add_argument("--at", metavar="ISO_TIME", help=f"first run ({TIME_HELP})")
    p.add_argument("--user", type=USER_ID, metavar="USER_ID")
    p.add_argument("--params", default="{}", metavar="JSON", help="handler parameters (object)")
    p.add_argument(
        "--max-retries", type=RETRIES, metavar="N", help="0-100; default: the scheduler's"
    )
    p.add_argument("--timeout", type=TIMEOUT, metavar="SECONDS", help="handler time limit")
    p.add_argument("--disabled", action="store_true", help="create it disabled")
    p.add_argument(
        "--force", action="store_true", help="accept a job type no live worker handles yet"
    )
    p.add_argument(
        "--then",
        nargs="+",
        metavar="CHILD_ID",
        help="jobs made due when this one completes",
    )
    p.set_defaults(handler=cmd_jobs_add)

    p = jobs.add_parser("edit", parents=[common], help="change a job")
    p.add_argument("job_id", metavar="ID")
    p.add_argument(
        "--frequency", choices=FREQUENCY_TYPES, help="new frequency type (give --config with it)"
    )
    p.add_argument("--config", metavar="JSON", help="new frequency config (moves a pending run)")
    p.add_argument("--priority", choices=PRIORITIES)
    p.add_argument("--params", metavar="JSON")
    p.add_argument("--at", metavar="ISO_TIME", help=f"next run ({TIME_HELP})")
    p.add_argument("--max-retries", type=RETRIES, metavar="N")
    p.add_argument("--timeout", type=TIMEOUT, metavar="SECONDS")
    p.set_defaults(handler=cmd_jobs_edit)

    p = jobs.add_parser("trigger", parents=[common], help="run a job now (recorded as manual)")
    p.add_argument("job_id", metavar="ID")
    p.set_defaults(handler=cmd_jobs_trigger)

    for name, enabled in (("enable", True), ("disable", False)):
        p = jobs.add_parser(name, parents=[common], help=f"{name} a job")
        p.add_argument("job_id", metavar="ID")
        p.set_defaults(handler=cmd_jobs_enable, enabled=enabled)

    p = jobs.add_parser(
        "install-defaults",
        parents=[common],
        help="install the meal planner's system and per-user jobs (idempotent)",
    )
    p.set_defaults(handler=cmd_jobs_install_defaults)

    p = jobs.add_parser("remove", parents=[common], help="delete a job and its history")
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.set_defaults(handler=cmd_jobs_remove)

    p = jobs.add_parser("next", parents=[common], help="preview the next fire times")
    p.add_argument("job_id", metavar="ID", nargs="?")
    p.add_argument("--frequency", choices=FREQUENCY_TYPES, help="preview a schedule instead")
    p.add_argument("--config", metavar="JSON")
    p.add_argument("-n", "--count", type=positive_int, default=5)
    p.add_argument("--from", dest="start", metavar="ISO_TIME", help="start here, not now")
    p.set_defaults(handler=cmd_jobs_next)
