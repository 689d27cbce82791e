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

Each group is a module here with a ``register(groups, common)`` function;
adding a group is a module and one entry in ``GROUPS``. A command sets
``handler`` (called with the settings) or ``standalone`` (called before any
settings are read, for commands that read their own).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from tasks import surfaces
from tasks.cli import db, dev, jobs, runs, scheduler
from tasks.cli.common import Groups, Handler, Parser, label_commands, plain
from tasks.errors import ConfigError, InvalidInput, NotFound, TasksError
from tasks.settings import Settings

#: Every group's ``register``, in the order ``--help`` lists them.
GROUPS: tuple[Callable[[Groups, argparse.ArgumentParser], None], ...] = (
    db.register,
    jobs.register,
    runs.register,
    scheduler.register,
    dev.register,
    surfaces.register,  # web, health: tasks/surfaces.py
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="meal-scheduler", description=plain(__doc__.splitlines()[0]))
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    for register in GROUPS:
        register(groups, common)
    label_commands(parser)
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
