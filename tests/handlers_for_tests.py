"""Handlers the tests run in real workers (loaded via TASKS_HANDLER_MODULES)."""

from __future__ import annotations

import os
import time
from typing import Any

from tasks import JobContext, job_handler


def _mark(ctx: JobContext) -> None:
    path = ctx.parameters.get("mark_file")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{ctx.job_id} {ctx.execution_id} {ctx.attempt_number} {os.getpid()}\n")


@job_handler("test.noop")
def noop(ctx: JobContext) -> dict[str, Any]:
    _mark(ctx)
    return {"job": ctx.job_id, "trigger": ctx.trigger_type, "attempt": ctx.attempt_number}


@job_handler("test.fail")
def fail(ctx: JobContext) -> None:
    _mark(ctx)
    raise RuntimeError(f"boom on attempt {ctx.attempt_number}")


@job_handler("test.sleep")
def sleep(ctx: JobContext) -> dict[str, Any]:
    _mark(ctx)
    time.sleep(float(ctx.parameters.get("seconds", 1.0)))
    return {"slept": ctx.parameters.get("seconds", 1.0)}


@job_handler("test.bad_output")
def bad_output(ctx: JobContext) -> dict[str, Any]:
    return {"not_json": {1, 2}}


@job_handler("test.nul_output")
def nul_output(ctx: JobContext) -> dict[str, Any]:
    """Valid JSON that jsonb refuses: a \\u0000 in a string."""
    _mark(ctx)
    return {"text": "before\x00after"}


@job_handler("test.nul_error")
def nul_error(ctx: JobContext) -> None:
    _mark(ctx)
    raise ValueError("bad byte \x00 in input")
