"""``python -m tasks`` (alias ``meal-scheduler``): the operator's commands.

Handlers parse arguments, call the core, print a table (or JSON with
``--json``) and return an exit code. No logic lives here. Errors print as one
line on stderr: exit 2 for bad input, 1 for anything else.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from tasks import migrate
from tasks.db import Database
from tasks.errors import ConfigError, InvalidInput, NotFound, TasksError
from tasks.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        print("(none)")
        return
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def emit(args: argparse.Namespace, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(list(rows), default=str, indent=2))
    else:
        print_table(rows, columns)


# ------------------------------------------------------------------ db


def cmd_db_migrate(args: argparse.Namespace, settings: Settings) -> int:
    db = Database(settings.database_url, 1, "meal-scheduler-cli")
    done = migrate.migrate(db, dry_run=args.dry_run)
    rows = [{"version": f"{m.version:03d}", "name": m.name} for m in done]
    if args.json:
        emit(args, rows, ["version", "name"])
    elif not done:
        print("up to date")
    else:
        verb = "would apply" if args.dry_run else "applied"
        for m in done:
            print(f"{verb} {m.label}")
            if args.show_sql:
                print(m.up_sql)
    return 0


def cmd_db_rollback(args: argparse.Namespace, settings: Settings) -> int:
    db = Database(settings.database_url, 1, "meal-scheduler-cli")
    done = migrate.rollback(db, to=args.to, backup=args.backup, dry_run=args.dry_run)
    rows = [{"version": f"{m.version:03d}", "name": m.name} for m in done]
    if args.json:
        emit(args, rows, ["version", "name"])
    elif not done:
        print("nothing to roll back")
    else:
        verb = "would roll back" if args.dry_run else "rolled back"
        for m in done:
            print(f"{verb} {m.label}")
            if args.show_sql:
                print(m.down_sql)
    return 0


def cmd_db_status(args: argparse.Namespace, settings: Settings) -> int:
    db = Database(settings.database_url, 1, "meal-scheduler-cli")
    states = migrate.status(db)
    rows = [
        {
            "version": f"{s.version:03d}",
            "name": s.name,
            "state": s.state,
            "applied_at": s.applied_at,
        }
        for s in states
    ]
    emit(args, rows, ["version", "name", "state", "applied_at"])
    return 1 if any(s.state in ("drifted", "unknown") for s in states) else 0


# ------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meal-scheduler", description=__doc__.splitlines()[0])
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")

    db = groups.add_parser("db", help="schema migrations").add_subparsers(
        dest="command", required=True, metavar="COMMAND"
    )
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        settings = Settings.from_env(need_redis=args.group != "db")
        return handler(args, settings)
    except (ConfigError, InvalidInput, NotFound) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TasksError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
