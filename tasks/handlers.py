"""The handler API: ``@job_handler("job_type")`` and :class:`JobContext`.

A handler is ``def f(ctx: JobContext) -> dict | None``; the returned dict is
stored as the execution's JSONB ``output``. Raising marks the attempt failed
and Postgres decides whether and when to retry.

Handler modules are imported at startup by worker and beat alike: the
built-in ``tasks.jobs`` package, then every module in
``TASKS_HANDLER_MODULES``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from tasks.db import Database
from tasks.errors import ConfigError, HandlerError
from tasks.ids import ExecutionId, JobId, TriggerType, UserId

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobContext:
    """What a handler knows about the attempt it runs."""

    job_id: JobId
    job_type: str
    user_id: UserId | None
    parameters: Mapping[str, Any]
    execution_id: ExecutionId
    attempt_number: int
    trigger_type: TriggerType
    parent_job_id: JobId | None = None
    scheduled_for: datetime | None = None
    #: The worker process's pool; use ``db.transaction()`` and named queries.
    db: Database | None = field(default=None, repr=False, compare=False)


Handler = Callable[[JobContext], "dict[str, Any] | None"]

#: What the worker raises inside a handler when the job's ``timeout_seconds``
#: runs out (Celery's soft time limit; billiard is Celery's pool library).
#: A handler that isolates failures with a broad ``except Exception`` must let
#: these through first (``except TIME_LIMITS: raise``): a swallowed soft limit
#: keeps the handler working until the hard kill, and the attempt is then
#: recorded as a lost lease instead of a timeout.
TIME_LIMITS: tuple[type[BaseException], ...] = (SoftTimeLimitExceeded, TimeLimitExceeded)

_registry: dict[str, Handler] = {}


def job_handler(job_type: str) -> Callable[[Handler], Handler]:
    """Register ``f`` as the handler of ``job_type``."""
    if not job_type or not job_type.strip():
        raise HandlerError("job_handler needs a non-empty job_type")

    def register(func: Handler) -> Handler:
        existing = _registry.get(job_type)
        if existing is not None and existing is not func:
            where = f"{existing.__module__}.{existing.__qualname__}"
            raise HandlerError(f"job_type {job_type!r} already has a handler: {where}")
        _registry[job_type] = func
        return func

    return register


def get_handler(job_type: str) -> Handler | None:
    return _registry.get(job_type)


def registered_types() -> frozenset[str]:
    return frozenset(_registry)


_import_failures: dict[str, str] = {}


def load_handler_modules(modules: tuple[str, ...], strict: bool = False) -> list[str]:
    """Import the built-in jobs and ``modules``.

    A module that fails to import is logged and remembered, not fatal: the
    other handlers keep running, and an attempt of a missing type fails
    with the import error in its reason (the retry policy applies, so a
    retry can land on a worker that has the handler). ``strict=True``
    raises instead (for tests and tooling).
    """
    loaded = []
    for name in ("tasks.jobs", *modules):
        try:
            importlib.import_module(name)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if strict:
                raise ConfigError(
                    f"TASKS_HANDLER_MODULES: cannot import {name!r}: {message}"
                ) from exc
            _import_failures[name] = message
            log.error(
                "handler module failed to import",
                exc_info=True,
                extra={"action": "handler_import_failed", "handler_module": name},
            )
            continue
        _import_failures.pop(name, None)
        loaded.append(name)
    return loaded


def import_failures() -> dict[str, str]:
    """Handler modules that failed to import, with their errors."""
    return dict(_import_failures)
