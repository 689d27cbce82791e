"""One exception tree for the whole package.

::

    TasksError
    ├─ ConfigError              a setting or an argument is invalid
    ├─ DatabaseError            any other psycopg.Error
    │  ├─ DatabaseUnavailable   cannot reach Postgres (retry later)
    │  ├─ InvalidInput          Postgres refused a value (names the field)
    │  ├─ NotFound              the job or row does not exist
    │  ├─ NotMigrated           the schema is missing or behind the code
    │  ├─ Conflict              a unique constraint was violated
    │  └─ InvalidTransition     our functions refused a state change
    ├─ MigrationError
    │  └─ ChecksumMismatch      an applied migration file was edited
    ├─ HandlerError             a handler is missing or returned bad output
    └─ AttemptFailed            an attempt ended failed (Celery's FAILURE; Postgres retries)

Each docstring is the default message. ``tasks.db`` maps psycopg errors onto
this tree in one place and always keeps the cause (``raise ... from exc``).
"""

from __future__ import annotations


class TasksError(Exception):
    """meal-scheduler failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(TasksError):
    """A setting is invalid."""


class DatabaseError(TasksError):
    """The database refused the operation."""


class DatabaseUnavailable(DatabaseError):
    """Postgres cannot be reached; retry later."""


class InvalidInput(DatabaseError):
    """Postgres refused a value."""


class NotFound(DatabaseError):
    """No such row."""


class NotMigrated(DatabaseError):
    """the database is not migrated: run python -m tasks db migrate"""


class Conflict(DatabaseError):
    """The row already exists."""


class InvalidTransition(DatabaseError):
    """The job is not in a state that allows this."""


class MigrationError(TasksError):
    """A migration could not be applied."""


class ChecksumMismatch(MigrationError):
    """An applied migration file was edited after it ran."""


class HandlerError(TasksError):
    """The job handler is missing or misbehaved."""


def describe(exc: BaseException, limit: int) -> str:
    """An exception as one line of at most ``limit`` characters: ``Type: message``.

    Used for an execution's ``error_message`` (the worker, 4000) and for the
    per-item errors a job puts in its output (the meal-planner jobs, 500).
    """
    # A NUL byte cannot be stored in text: the failure would go unrecorded.
    text = f"{type(exc).__name__}: {exc}".strip().replace("\x00", "\\x00")
    return text if len(text) <= limit else text[: limit - 3] + "..."


class AttemptFailed(TasksError):
    """The attempt failed; Postgres recorded it and decides the retry."""
