"""What every command group shares: the handler type, argument parsing helpers."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NoReturn

from tasks import operator as op
from tasks.db import Database
from tasks.errors import ConfigError
from tasks.settings import Settings

#: A command: parsed arguments and the settings in, an exit code out.
Handler = Callable[[argparse.Namespace, Settings], int]
#: The subparsers object a group registers its commands on.
Groups = Any

TIME_HELP = "ISO time; without an offset it is wall-clock time in the job's zone"
# The bounds 006_security enforces in Postgres, checked before connecting.
RETRIES = op.int_between(0, 100)
TIMEOUT = op.int_between(1, 604_800)
DAY = op.int_between(1, 86_400)
USER_ID = op.int_between(1, 2**63 - 1)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``error: argument --priority: invalid choice ...``).

    An error points to the help of the command it is about, also for words
    argparse leaves over (``scheduler set timezone X``), which it would
    otherwise report against the top-level parser.
    """

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: None = None
    ) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            prog = getattr(parsed, "command_prog", self.prog)
            print(
                f"error: unrecognized arguments: {' '.join(extras)}; options start with -- "
                f"(see {prog} --help)",
                file=sys.stderr,
            )
            raise SystemExit(2)
        return parsed


def label_commands(parser: argparse.ArgumentParser) -> None:
    """Give every command's namespace its ``prog``, for errors about left-over words."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(command_prog=sub.prog)
                label_commands(sub)


def plain(text: str) -> str:
    """Docstring markup (````code````) as help text shows it: without the backticks."""
    return text.replace("``", "")


def database(settings: Settings) -> Database:
    return Database(settings.database_url, 1, "meal-scheduler-cli", fail_fast=True)


def json_arg(args: argparse.Namespace, attr: str, flag: str) -> Any:
    text: str | None = getattr(args, attr)
    return None if text is None else op.parse_json(flag, text)


def time_arg(args: argparse.Namespace, attr: str, flag: str) -> datetime | None:
    text: str | None = getattr(args, attr)
    return None if text is None else op.parse_time(flag, text)


def require_changes(changes: op.JobChanges | op.ConfigChanges, flags: str) -> None:
    if changes.is_empty():
        raise ConfigError(f"nothing to change: give {flags}")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def group(
    groups: Groups, name: str, help_text: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """A command group (``jobs``): its commands are added to what this returns."""
    sub: argparse._SubParsersAction[argparse.ArgumentParser] = groups.add_parser(
        name, help=help_text
    ).add_subparsers(dest="command", required=True, metavar="COMMAND")
    return sub
