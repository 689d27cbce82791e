"""Built-in handlers of the meal planner's jobs, imported by worker and beat.

Importing this package registers ``weekly_generation``, ``auto_sync``,
``daily_advisor`` and ``weekly_trends``. :func:`tasks.jobs.defaults.install_defaults`
installs their schedules; :func:`tasks.jobs.demo.seed_demo` seeds demo data.
What each job reads, writes and needs is in docs/jobs.md.
"""

from __future__ import annotations

from tasks.jobs import advisor, generation, sync, trends

__all__ = ["advisor", "generation", "sync", "trends"]
