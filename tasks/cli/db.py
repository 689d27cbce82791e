"""``db``: schema migrations."""

from __future__ import annotations

import argparse

from tasks import migrate, output
from tasks.cli.common import Groups, database, group
from tasks.settings import Settings


def cmd_db_apply(args: argparse.Namespace, settings: Settings) -> int:
    """``db migrate`` and ``db rollback`` (``args.rollback``)."""
    db = database(settings)
    if args.rollback:
        done = migrate.rollback(db, to=args.to, backup=args.backup, dry_run=args.dry_run)
    else:
        done = migrate.migrate(db, dry_run=args.dry_run)
    output.show(
        "migrations",
        done,
        as_json=args.json,
        dry_run=args.dry_run,
        show_sql=args.show_sql,
        rollback=args.rollback,
    )
    return 0


def cmd_db_status(args: argparse.Namespace, settings: Settings) -> int:
    states = migrate.status(database(settings))
    output.show("migration_status", states, as_json=args.json)
    return 1 if any(s.state in ("drifted", "unknown") for s in states) else 0


def register(groups: Groups, common: argparse.ArgumentParser) -> None:
    db = group(groups, "db", "schema migrations")
    p = db.add_parser("migrate", parents=[common], help="apply pending migrations in order")
    p.add_argument("--dry-run", action="store_true", help="list what would be applied")
    p.add_argument("--show-sql", action="store_true", help="print each migration's SQL")
    p.set_defaults(handler=cmd_db_apply, rollback=False)
    p = db.add_parser("rollback", parents=[common], help="undo the latest migration")
    p.add_argument("--to", type=int, metavar="VERSION", help="undo every migration above VERSION")
    p.add_argument("--backup", action="store_true", help="copy tables into *_backup first")
    p.add_argument("--dry-run", action="store_true", help="list what would be undone")
    p.add_argument("--show-sql", action="store_true", help="print each rollback's SQL")
    p.set_defaults(handler=cmd_db_apply, rollback=True)
    p = db.add_parser("status", parents=[common], help="applied, pending and drifted migrations")
    p.set_defaults(handler=cmd_db_status)
