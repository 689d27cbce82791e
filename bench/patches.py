"""Experiments: proposed optimizations, tried in the bench without touching tasks/.

``python -m bench --patch NAME[,NAME]`` applies them. A patch has SQL, run
on the bench's template database after the migrations (so every section's
copy has it), and/or Python, applied in the worker and the beat: with
``--patch`` this module is added to ``TASKS_HANDLER_MODULES``, which both
import at startup, and it patches what ``BENCH_PATCHES`` names.

Each patch is a measurement aid for a proposal in docs/performance.md, not
production code: where the real change needs more (a migration, a new
function version, a decision about an invariant), the doc says what.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.infra import Conn


@dataclass(frozen=True)
class Patch:
    doc: str
    sql: str | Callable[[Conn], None] | None = None
    python: Callable[[], None] | None = None


def _async_start() -> None:
    """The start record commits with synchronous_commit = off (in the same statement)."""
    from tasks.sql import Query, queries

    q = queries["start_execution"]
    text = q.text.replace(
        "FROM start_execution_v1(",
        "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit,"
        " start_execution_v1(",
    )
    assert text != q.text
    queries["start_execution"] = Query(q.name, q.kind, text)


def _broker_settings(**overrides: object) -> Callable[[], None]:
    """Worker and beat build their Celery config with ``overrides`` on top of the bridge's."""

    def apply() -> None:
        from tasks import celery_app

        base = celery_app.celery_config

        def config(settings: Any) -> dict[str, Any]:
            return {**base(settings), **overrides}

        celery_app.celery_config = config

    return apply


def _ack_emulation() -> None:
    """kombu's own Redis transport, as before: an unacked hash entry per message, 7200 s."""
    from tasks import celery_app

    base = celery_app.celery_config

    def config(settings: Any) -> dict[str, Any]:
        conf = base(settings)
        options = {**conf["broker_transport_options"], "visibility_timeout": 7200}
        return {**conf, "broker_transport": "redis", "broker_transport_options": options}

    celery_app.celery_config = config


def _separate_commits() -> None:
    """Start and completion in transactions of their own, as before shared commits."""
    from tasks import celery_app, execution

    def run(*args: Any, commits: Any = None, **kwargs: Any) -> Any:
        return execution.run(*args, **kwargs)

    celery_app.run = run


PATCHES: dict[str, Patch] = {
    # Adopted proposals (pool check dropped, pipelined publish, sleep until
    # due, PL/pgSQL start, wake on a freed slot only when capped) are in the
    # code now; these are the experiments still open.
    "async_start": Patch(_async_start.__doc__ or "", python=_async_start),
    "late_ack": Patch(
        "The broker settings the bridge had before: late ack, reject on worker lost, prefetch 1.",
        python=_broker_settings(
            task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1
        ),
    ),
    "early_ack": Patch(
        "Early ack (when a pool process accepts the task), prefetch multiplier 1.",
        python=_broker_settings(task_acks_late=False, worker_prefetch_multiplier=1),
    ),
    "ack_emulation": Patch(_ack_emulation.__doc__ or "", python=_ack_emulation),
    "separate_commits": Patch(_separate_commits.__doc__ or "", python=_separate_commits),
    "prefetch4": Patch(
        "Early ack with Celery's default prefetch multiplier, 4 (breaks the priority bound).",
        python=_broker_settings(task_acks_late=False, worker_prefetch_multiplier=4),
    ),
    "no_jsonb_gin": Patch(
        "Without the GIN indexes on scheduled_jobs (parameters, frequency_config) and "
        "job_executions (output): what their upkeep costs on every dispatch transition.",
        sql="""
        DROP INDEX idx_scheduled_jobs_parameters;
        DROP INDEX idx_scheduled_jobs_frequency_config;
        DROP INDEX idx_job_executions_output;
        """,
    ),
}


def apply_sql(conn: Conn, names: Sequence[str]) -> None:
    """Run the patches' SQL on ``conn`` (the bench's template database)."""
    for name in names:
        sql = PATCHES[name].sql
        if callable(sql):
            sql(conn)
        elif sql is not None:
            conn.execute(sql)  # our fixed experiments


def apply_python(names: Sequence[str]) -> None:
    for name in names:
        patch = PATCHES[name]
        if patch.python is not None:
            patch.python()


# Imported by worker and beat through TASKS_HANDLER_MODULES (see bench.infra.bridge_env).
apply_python([n for n in os.environ.get("BENCH_PATCHES", "").split(",") if n in PATCHES])
