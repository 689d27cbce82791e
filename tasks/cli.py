"""``python -m tasks`` (alias ``meal-scheduler``): the operator's commands.

Handlers parse arguments, call the core (``tasks.migrate``, ``tasks.operator``),
hand the result to ``tasks.output`` (a table, or JSON with ``--json``) and
return an exit code. No logic lives here. Errors print as one line on stderr:
exit 2 for bad input (a bad argument, an unknown job, a value Postgres
refused), 1 for anything else (a state that does not allow the change,
Postgres unreachable).

Groups: ``db`` (migrations), ``jobs``, ``runs``, ``scheduler`` and ``dev``.
Only ``DATABASE_URL`` is required; ``REDIS_URL`` is read, when set, by
``scheduler status`` (the active beat's lock). Reference: ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NoReturn, get_args

from tasks import migrate, output
from tasks import operator as op
from tasks.db import Database
from tasks.errors import ConfigError, InvalidInput, NotFound, TasksError
from tasks.ids import EXECUTION_STATUSES, FREQUENCY_TYPES, PRIORITIES, JobStatus
from tasks.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]

JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)


# ------------------------------------------------------------------ arguments


def _database(settings: Settings) -> Database:
    return Database(settings.database_url, 1, "meal-scheduler-cli")


def _json_arg(args: argparse.Namespace, attr: str, flag: str) -> Any:
    text: str | None = getattr(args, attr)
    return None if text is None else op.parse_json(flag, text)


def _time_arg(args: argparse.Namespace, attr: str, flag: str) -> datetime | None:
    text: str | None = getattr(args, attr)
    return None if text is None else op.parse_time(flag, text)


def _require_changes(changes: op.JobChanges | op.ConfigChanges, flags: str) -> None:
    if changes.is_empty():
        raise ConfigError(f"nothing to change: give {flags}")


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``error: argument --priority: invalid choice ...``)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


# ------------------------------------------------------------------ db


def cmd_db_migrate(args: argparse.Namespace, settings: Settings) -> int:
    done = migrate.migrate(_database(settings), dry_run=args.dry_run)
    output.print_migrations(
        done, as_json=args.json, dry_run=args.dry_run, show_sql=args.show_sql, rollback=False
    )
    return 0


def cmd_db_rollback(args: argparse.Namespace, settings: Settings) -> int:
    db = _database(settings)
    done = migrate.rollback(db, to=args.to, backup=args.backup, dry_run=args.dry_run)
    output.print_migrations(
        done, as_json=args.json, dry_run=args.dry_run, show_sql=args.show_sql, rollback=True
    )
    return 0


def cmd_db_status(args: argparse.Namespace, settings: Settings) -> int:
    states = migrate.status(_database(settings))
    output.print_migration_status(states, as_json=args.json)
    return 1 if any(s.state in ("drifted", "unknown") for s in states) else 0


# ------------------------------------------------------------------ jobs


def cmd_jobs_list(args: argparse.Namespace, settings: Settings) -> int:
    jobs = op.list_jobs(
        _database(settings),
        status=args.status,
        job_type=args.type,
        user_id=args.user,
        limit=args.limit,
    )
    output.print_jobs(jobs, as_json=args.json)
    return 0


def cmd_jobs_show(args: argparse.Namespace, settings: Settings) -> int:
    output.print_job_detail(op.show_job(_database(settings), args.job_id), as_json=args.json)
    return 0


def cmd_jobs_add(args: argparse.Namespace, settings: Settings) -> int:
    spec = op.NewJob(
        job_id=args.job_id,
        job_type=args.type,
        frequency_type=args.frequency,
        config=op.parse_json("--config", args.config),
        priority=args.priority,
        at=_time_arg(args, "at", "--at"),
        user_id=args.user,
        parameters=op.parse_json("--params", args.params),
        max_retries=args.max_retries,
        timeout_seconds=args.timeout,
        enabled=not args.disabled,
        then=args.then or (),
    )
    output.print_job_added(op.add_job(_database(settings), spec), as_json=args.json)
    return 0


def cmd_jobs_edit(args: argparse.Namespace, settings: Settings) -> int:
    changes = op.JobChanges(
        config=_json_arg(args, "config", "--config"),
        priority=args.priority,
        parameters=_json_arg(args, "params", "--params"),
        at=_time_arg(args, "at", "--at"),
        max_retries=args.max_retries,
        timeout_seconds=args.timeout,
    )
    _require_changes(changes, "--config, --priority, --params, --at, --max-retries or --timeout")
    job = op.edit_job(_database(settings), args.job_id, changes)
    output.print_job_edited(job, as_json=args.json)
    return 0


def cmd_jobs_trigger(args: argparse.Namespace, settings: Settings) -> int:
    job = op.trigger_job(_database(settings), args.job_id)
    output.print_job_triggered(job, as_json=args.json)
    return 0


def cmd_jobs_install_defaults(args: argparse.Namespace, settings: Settings) -> int:
    from tasks.jobs.defaults import install_defaults

    result = install_defaults(_database(settings))
    output.print_install_result(result.as_dict(), as_json=args.json)
    return 0


def cmd_jobs_enable(args: argparse.Namespace, settings: Settings) -> int:
    job = op.set_job_enabled(_database(settings), args.job_id, args.enabled)
    output.print_job_enabled(job, as_json=args.json)
    return 0


def cmd_jobs_remove(args: argparse.Namespace, settings: Settings) -> int:
    db = _database(settings)
    if not args.yes:
        job = op.get_job(db, args.job_id)
        history = op.count_job_executions(db, args.job_id)
        question = f"remove job {job.id} ({job.job_type}) and its {history} executions? [y/N] "
        if not sys.stdin.isatty():
            raise ConfigError(f'refusing to remove job "{job.id}" without --yes (not a terminal)')
        if input(question).strip().lower() not in ("y", "yes"):
            print("not removed")
            return 1
    output.print_job_removed(op.remove_job(db, args.job_id), as_json=args.json)
    return 0


def cmd_jobs_next(args: argparse.Namespace, settings: Settings) -> int:
    db = _database(settings)
    start = _time_arg(args, "start", "--from")
    if args.job_id is not None:
        if args.frequency is not None or args.config is not None:
            raise ConfigError("give a job ID or --frequency/--config, not both")
        preview = op.preview_job(db, args.job_id, args.count, start=start)
    elif args.frequency is None:
        raise ConfigError("give a job ID, or --frequency with --config")
    else:
        config = {} if args.config is None else op.parse_json("--config", args.config)
        preview = op.preview_schedule(db, args.frequency, config, args.count, start=start)
    output.print_preview(preview, as_json=args.json)
    return 0


# ------------------------------------------------------------------ runs


def cmd_runs_list(args: argparse.Namespace, settings: Settings) -> int:
    since = None if args.since is None else op.parse_since("--since", args.since)
    runs = op.list_runs(
        _database(settings),
        job_id=args.job,
        status=args.status,
        since=since,
        limit=args.limit,
    )
    output.print_runs(runs, as_json=args.json)
    return 0


# ------------------------------------------------------------------ scheduler


def cmd_scheduler_status(args: argparse.Namespace, settings: Settings) -> int:
    status = op.scheduler_status(
        _database(settings), redis_url=settings.redis_url, key_prefix=settings.key_prefix
    )
    output.print_scheduler_status(status, as_json=args.json)
    return 0


def cmd_scheduler_enable(args: argparse.Namespace, settings: Settings) -> int:
    config = op.set_scheduler_enabled(_database(settings), args.enabled)
    output.print_scheduler_enabled(config, as_json=args.json)
    return 0


def cmd_scheduler_set(args: argparse.Namespace, settings: Settings) -> int:
    changes = op.ConfigChanges(
        max_concurrent_jobs=args.max_concurrent,
        timezone=args.timezone,
        max_retries=args.max_retries,
        retry_base_seconds=args.retry_base,
        queue_timeout_seconds=args.queue_timeout,
    )
    _require_changes(
        changes, "--max-concurrent, --timezone, --max-retries, --retry-base or --queue-timeout"
    )
    update = op.update_scheduler_config(_database(settings), changes)
    output.print_config_update(update, as_json=args.json, new_zone=changes.timezone is not None)
    return 0


# ------------------------------------------------------------------ dev
# The `dev` group belongs to tasks/dev.py (`main(data_dir, demo) -> int`:
# embedded Postgres/Redis where unset, migrations, beat + worker). Imported
# lazily so the other commands never pay for it; it reads its own settings
# (DATABASE_URL may be unset), so main() calls it before Settings.from_env.


def cmd_dev(args: argparse.Namespace) -> int:
    try:
        dev = importlib.import_module("tasks.dev")
    except ModuleNotFoundError as exc:
        if exc.name != "tasks.dev":
            raise
        raise TasksError("the dev command is not available: tasks.dev is missing") from exc
    run: Callable[[str | None, bool], int] = dev.main
    return run(args.data_dir, args.demo)


# ------------------------------------------------------------------ parser


def _group(
    groups: Any, name: str, help_text: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    sub: argparse._SubParsersAction[argparse.ArgumentParser] = groups.add_parser(
        name, help=help_text
    ).add_subparsers(dest="command", required=True, metavar="COMMAND")
    return sub


def _add_db(groups: Any, common: argparse.ArgumentParser) -> None:
    db = _group(groups, "db", "schema migrations")
    p = db.add_parser("migrate", parents=[common], help="apply pending migrations in order")
    p.add_argument("--dry-run", action="store_true", help="list what would be applied")
    p.add_argument("--show-sql", action="store_true", help="print each migration's SQL")
    p.set_defaults(handler=cmd_db_migrate)
    p = db.add_parser("rollback", parents=[common], help="undo the latest migration")
    p.add_argument("--to", type=int, metavar="VERSION", help="undo every migration above VERSION")
    p.add_argument("--backup", action="store_true", help="copy tables into *_backup first")
    p.add_argument("--dry-run", action="store_true", help="list what would be undone")
    p.add_argument("--show-sql", action="store_true", help="print each rollback's SQL")
    p.set_defaults(handler=cmd_db_rollback)
    p = db.add_parser("status", parents=[common], help="applied, pending and drifted migrations")
    p.set_defaults(handler=cmd_db_status)


_TIME_HELP = "ISO time; without an offset it is wall-clock time in the job's zone"
# The bounds 006_security enforces in Postgres, checked before connecting.
_RETRIES = op.int_between(0, 100)
_TIMEOUT = op.int_between(1, 604_800)
_DAY = op.int_between(1, 86_400)


def _add_jobs(groups: Any, common: argparse.ArgumentParser) -> None:  # noqa: PLR0915 - one parser
    jobs = _group(groups, "jobs", "list, inspect and change jobs")

    p = jobs.add_parser("list", parents=[common], help="jobs, soonest next run first")
    p.add_argument("--status", choices=JOB_STATUSES)
    p.add_argument("--type", metavar="JOB_TYPE")
    p.add_argument("--user", type=op.int_between(1, 2**63 - 1), metavar="USER_ID")
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
    p.add_argument("--at", metavar="ISO_TIME", help=f"first run ({_TIME_HELP})")
    p.add_argument("--user", type=op.int_between(1, 2**63 - 1), metavar="USER_ID")
    p.add_argument("--params", default="{}", metavar="JSON", help="handler parameters (object)")
    p.add_argument(
        "--max-retries", type=_RETRIES, metavar="N", help="0-100; default: the scheduler's"
    )
    p.add_argument("--timeout", type=_TIMEOUT, metavar="SECONDS", help="handler time limit")
    p.add_argument("--disabled", action="store_true", help="create it disabled")
    p.add_argument(
        "--then",
        nargs="+",
        metavar="CHILD_ID",
        help="jobs made due when this one completes",
    )
    p.set_defaults(handler=cmd_jobs_add)

    p = jobs.add_parser("edit", parents=[common], help="change a job")
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--config", metavar="JSON", help="new frequency config (moves a pending run)")
    p.add_argument("--priority", choices=PRIORITIES)
    p.add_argument("--params", metavar="JSON")
    p.add_argument("--at", metavar="ISO_TIME", help=f"next run ({_TIME_HELP})")
    p.add_argument("--max-retries", type=_RETRIES, metavar="N")
    p.add_argument("--timeout", type=_TIMEOUT, metavar="SECONDS")
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


def _add_runs(groups: Any, common: argparse.ArgumentParser) -> None:
    runs = _group(groups, "runs", "execution history")
    p = runs.add_parser("list", parents=[common], help="executions, newest first")
    p.add_argument("--job", metavar="ID")
    p.add_argument("--status", choices=EXECUTION_STATUSES)
    p.add_argument("--since", metavar="ISO_TIME|24h", help="an ISO time, or 90m, 24h, 7d ago")
    p.add_argument("--limit", type=positive_int, default=50)
    p.set_defaults(handler=cmd_runs_list)


def _add_scheduler(groups: Any, common: argparse.ArgumentParser) -> None:
    sched = _group(groups, "scheduler", "the global switch and settings")
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
    p.add_argument("--max-retries", type=_RETRIES, metavar="N", help="default retries per job")
    p.add_argument("--retry-base", type=_DAY, metavar="SECONDS", help="first retry delay")
    p.add_argument("--queue-timeout", type=_DAY, metavar="SECONDS", help="requeue after this")
    p.set_defaults(handler=cmd_scheduler_set)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="meal-scheduler", description=__doc__.splitlines()[0])
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")

    _add_db(groups, common)
    _add_jobs(groups, common)
    _add_runs(groups, common)
    _add_scheduler(groups, common)

    # ---- dev: owned by tasks/dev.py (see cmd_dev) ----
    p = groups.add_parser("dev", help="run everything locally (embedded servers when unset)")
    p.add_argument("--data-dir", metavar="DIR", help="embedded servers' data (default ./.dev-data)")
    p.add_argument(
        "--demo",
        action="store_true",
        help="also seed demo users, recipes and a food log, run their jobs, print results",
    )
    p.set_defaults(standalone=cmd_dev)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        standalone: Callable[[argparse.Namespace], int] | None = getattr(args, "standalone", None)
        if standalone is not None:
            return standalone(args)
        handler: Handler = args.handler
        # Only Postgres is required: REDIS_URL is optional (scheduler status).
        settings = Settings.from_env(need_redis=False)
        return handler(args, settings)
    except (ConfigError, InvalidInput, NotFound) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TasksError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
