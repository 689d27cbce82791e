"""``install_defaults(db)``: the jobs every deployment needs, installed once.

* ``auto_sync:system``: ``auto_sync`` every 2 hours, system-wide.
* per user: ``weekly_generation:user:<id>`` (Friday 06:00),
  ``daily_advisor:user:<id>`` (20:00), ``weekly_trends:user:<id>``
  (Thursday 20:00), in the user's own zone, ``parameters = {"user_id": id}``.

New users get their jobs from the users trigger (migration 003); this
back-fills users that existed before it, and the system job. Existing rows
are never changed, so a second run creates nothing and says so. Wired to
``python -m tasks jobs install-defaults``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tasks.db import Database


@dataclass(frozen=True)
class InstallResult:
    created: dict[str, int]
    existing: dict[str, int]

    @property
    def changed(self) -> bool:
        return any(self.created.values())

    @property
    def message(self) -> str:
        if not self.changed:
            total = sum(self.existing.values())
            return f"default jobs already installed ({total} jobs); nothing changed"
        made = ", ".join(f"{n} {t}" for t, n in self.created.items() if n)
        return f"installed {sum(self.created.values())} default job(s): {made}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "created": self.created,
            "existing": self.existing,
            "message": self.message,
        }


def install_defaults(db: Database, now: datetime | None = None) -> InstallResult:
    """Install what is missing (one transaction); ``now`` fixes the clock for tests."""
    with db.transaction() as tx:
        rows = tx.many("install_default_jobs", now=now)
    return InstallResult(
        created={r["job_type"]: int(r["created"]) for r in rows},
        existing={r["job_type"]: int(r["existing"]) for r in rows},
    )
