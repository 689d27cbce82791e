"""``dev``: the whole stack locally.

The group belongs to :mod:`tasks.dev` (``main(data_dir, demo) -> int``:
embedded Postgres/Redis where unset, migrations, beat + worker). Imported
lazily so the other commands never pay for it; it reads its own settings
(DATABASE_URL may be unset), so it runs as a ``standalone`` command, before
``Settings.from_env``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from tasks.cli.common import Groups
from tasks.errors import TasksError


def cmd_dev(args: argparse.Namespace) -> int:
    try:
        dev = importlib.import_module("tasks.dev")
    except ModuleNotFoundError as exc:
        if exc.name != "tasks.dev":
            raise
        raise TasksError("the dev command is not available: tasks.dev is missing") from exc
    run: Callable[[str | None, bool], int] = dev.main
    return run(args.data_dir, args.demo)


def register(groups: Groups, common: argparse.ArgumentParser) -> None:
    p = groups.add_parser("dev", help="run everything locally (embedded servers when unset)")
    p.add_argument("--data-dir", metavar="DIR", help="embedded servers' data (default ./.dev-data)")
    p.add_argument(
        "--demo",
        action="store_true",
        help="also seed demo users, recipes and a food log, run their jobs, print results",
    )
    p.set_defaults(standalone=cmd_dev)
