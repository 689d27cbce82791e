"""Which job types exist: the ones a live worker has registered (its heartbeat).

``jobs add`` refuses a job type no live worker handles, so a typo
(``weekly_generaton``) is caught when it is written, not when it runs;
``--force`` skips the check for a deploy that adds the job before the
worker that runs it.
"""

from __future__ import annotations

import difflib

from tasks import workers
from tasks.db import Database
from tasks.errors import ConfigError


def require_live_job_type(db: Database, job_type: str, heartbeat_seconds: float) -> None:
    """Raise ConfigError naming the known job types unless a live worker handles ``job_type``."""
    live = workers.live_job_types(db, heartbeat_seconds)
    if job_type in live:
        return
    window = f"{3 * heartbeat_seconds:g} s"
    if not live:
        raise ConfigError(
            f"no live worker handles job type {job_type!r}: no worker has sent a heartbeat "
            f"in the last {window} (start one, or add the job anyway with --force)"
        )
    close = difflib.get_close_matches(job_type, list(live), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ConfigError(
        f"no live worker handles job type {job_type!r}; {hint}known job types: "
        f"{', '.join(sorted(live))} (--force adds it anyway)"
    )
