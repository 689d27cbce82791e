"""What an operator does to jobs, runs and the scheduler; ``tasks.cli`` prints it.

Every function takes a :class:`~tasks.db.Database` and returns frozen rows
(:mod:`tasks.operator.rows`). Postgres validates the values; these modules
only check what needs no database and decide which rows to touch.

Modules: ``jobs`` (list/show/add/edit/trigger/enable/remove), ``runs``
(execution history: list, show), ``preview`` (``jobs next``), ``scheduler`` (status,
pause/resume, settings, the Redis beat-lock read), ``types`` (the job
types live workers handle), ``parsing`` (JSON, ISO times, durations) and
``rows``. Import from here: ``from tasks import operator``.
"""

from __future__ import annotations

from tasks.operator.jobs import (
    JobChanges,
    NewJob,
    add_job,
    count_job_executions,
    edit_job,
    get_job,
    list_jobs,
    remove_job,
    set_job_enabled,
    show_job,
    trigger_job,
)
from tasks.operator.parsing import (
    check_job_type,
    check_text_id,
    int_between,
    parse_json,
    parse_since,
    parse_time,
)
from tasks.operator.preview import MAX_PREVIEW, format_offset, preview_job, preview_schedule
from tasks.operator.rows import (
    BeatLock,
    ConfigUpdate,
    Execution,
    Fire,
    Job,
    JobDetail,
    Preview,
    Removed,
    SchedulerConfig,
    SchedulerStatus,
)
from tasks.operator.runs import get_run, list_runs
from tasks.operator.scheduler import (
    ConfigChanges,
    get_scheduler_config,
    read_beat_lock,
    scheduler_status,
    set_scheduler_enabled,
    update_scheduler_config,
)
from tasks.operator.types import require_live_job_type

__all__ = [
    "MAX_PREVIEW",
    "BeatLock",
    "ConfigChanges",
    "ConfigUpdate",
    "Execution",
    "Fire",
    "Job",
    "JobChanges",
    "JobDetail",
    "NewJob",
    "Preview",
    "Removed",
    "SchedulerConfig",
    "SchedulerStatus",
    "add_job",
    "check_job_type",
    "check_text_id",
    "count_job_executions",
    "edit_job",
    "format_offset",
    "get_job",
    "get_run",
    "get_scheduler_config",
    "int_between",
    "list_jobs",
    "list_runs",
    "parse_json",
    "parse_since",
    "parse_time",
    "preview_job",
    "preview_schedule",
    "read_beat_lock",
    "remove_job",
    "require_live_job_type",
    "scheduler_status",
    "set_job_enabled",
    "set_scheduler_enabled",
    "show_job",
    "trigger_job",
    "update_scheduler_config",
]
