"""Migration runner: ``db migrate``, ``db rollback``, ``db status``.

Why not yoyo-migrations: our files are ``schema/migrations/NNN_name.sql``
with ``schema/rollback/NNN_rollback_name.sql`` (a layout other tools and
non-Python workers rely on), and a deploy must be refused when an applied
file was edited afterwards. yoyo identifies a migration by its file name and
does not refuse edited files, so adapting it would take more code than these
~150 lines.

Guarantees: one transaction per file (a failing file leaves nothing behind);
a session advisory lock, so two deploys at once apply each file once;
``schema_migrations`` records version, name, sha256 and time applied.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Literal

from tasks.db import Database, Session
from tasks.errors import ChecksumMismatch, DatabaseError, DatabaseUnavailable, MigrationError

log = logging.getLogger(__name__)

_UP = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+)\.sql$")
_DOWN = re.compile(r"^(?P<version>\d{3})_rollback_(?P<name>[a-z0-9_]+)\.sql$")

State = Literal["applied", "pending", "drifted", "unknown"]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up_sql: str
    down_sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.up_sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:03d}_{self.name}"


@dataclass(frozen=True)
class MigrationStatus:
    version: int
    name: str
    state: State
    applied_at: datetime | None


def _files(folder: Traversable, pattern: re.Pattern[str]) -> dict[int, tuple[str, str]]:
    found: dict[int, tuple[str, str]] = {}
    for entry in folder.iterdir():
        match = pattern.match(entry.name)
        if not match:
            continue
        version = int(match["version"])
        if version in found:
            raise MigrationError(f"two files for migration {version:03d} in {folder.name}/")
        found[version] = (match["name"], entry.read_text(encoding="utf-8"))
    return found


def discover(root: Traversable | None = None) -> list[Migration]:
    """All migrations with their rollbacks, in order; a missing pair is an error."""
    root = root or resources.files("tasks.schema")
    ups = _files(root / "migrations", _UP)
    downs = _files(root / "rollback", _DOWN)
    for version in sorted(set(ups) ^ set(downs)):
        side = "rollback" if version in ups else "migration"
        raise MigrationError(f"migration {version:03d} has no {side} file")
    migrations = []
    for version in sorted(ups):
        name, up_sql = ups[version]
        down_name, down_sql = downs[version]
        if down_name != name:
            raise MigrationError(
                f"rollback for {version:03d}_{name} is named {version:03d}_rollback_{down_name}"
            )
        migrations.append(Migration(version, name, up_sql, down_sql))
    return migrations


def _applied(session: Session) -> dict[int, dict[str, object]]:
    session.exec("create_migrations_table")
    return {row["version"]: row for row in session.many("applied_migrations")}


def status(db: Database, migrations: list[Migration] | None = None) -> list[MigrationStatus]:
    migrations = discover() if migrations is None else migrations
    with db.direct() as session:
        applied = _applied(session)
    known = {m.version: m for m in migrations}
    rows = []
    for version in sorted(set(known) | set(applied)):
        row = applied.get(version)
        m = known.get(version)
        if m is None:
            rows.append(MigrationStatus(version, str(row and row["name"]), "unknown", None))
            continue
        if row is None:
            rows.append(MigrationStatus(version, m.name, "pending", None))
            continue
        state: State = "applied" if row["sha256"] == m.sha256 else "drifted"
        rows.append(MigrationStatus(version, m.name, state, row["applied_at"]))  # type: ignore[arg-type]
    return rows


def migrate(
    db: Database, migrations: list[Migration] | None = None, dry_run: bool = False
) -> list[Migration]:
    """Apply every pending migration in order; return what was (or would be) applied."""
    migrations = discover() if migrations is None else migrations
    done: list[Migration] = []
    with db.direct() as session:
        session.exec("lock_migrations")
        try:
            _warn_if_superuser(session)
            applied = _applied(session)
            for m in migrations:
                row = applied.get(m.version)
                if row is not None:
                    if row["sha256"] != m.sha256:
                        raise ChecksumMismatch(
                            f"migration {m.label} was edited after it was applied "
                            f"(applied sha256 {str(row['sha256'])[:12]}, file {m.sha256[:12]}); "
                            "write a new migration instead"
                        )
                    continue
                if not dry_run:
                    log.info(
                        "applying migration", extra={"action": "migrate", "version": m.version}
                    )
                    try:
                        with session.transaction():
                            session.script(m.up_sql)
                            session.exec(
                                "record_migration", version=m.version, name=m.name, sha256=m.sha256
                            )
                    except DatabaseUnavailable:
                        raise  # not the file's fault: retry once Postgres is back
                    except DatabaseError as exc:
                        raise MigrationError(f"migration {m.label} failed: {exc}") from exc
                done.append(m)
        finally:
            session.exec("unlock_migrations")
    return done


def _warn_if_superuser(session: Session) -> None:
    """docs/security.md: the SECURITY DEFINER functions run as whoever owns
    them, so a superuser owner turns any bug in one into superuser rights."""
    row = session.one("migration_role")
    if row is not None and row["superuser"]:
        log.warning(
            "db migrate runs as superuser %s: the schema's SECURITY DEFINER functions will run"
            " as a superuser; in production migrate as a dedicated non-superuser owner"
            " (docs/security.md)",
            row["name"],
            extra={"action": "migrate_as_superuser"},
        )


def _quiesce(session: Session, wait_seconds: float) -> None:
    """The seed's safety step: pause the scheduler, give running jobs time to end.

    It must commit on its own (inside the rollback's transaction nobody
    else would see the pause), so it runs before the rollback files.
    """
    row = session.one("scheduler_present")
    if not row or not row["present"]:
        return
    session.exec("pause_for_rollback")
    log.warning("scheduler paused for rollback", extra={"action": "rollback_pause"})
    deadline = time.monotonic() + wait_seconds
    active = 0
    while True:
        count = session.one("count_active_jobs")
        active = int(count["active"]) if count else 0
        if active == 0 or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if active:
        log.warning(
            "jobs still queued or running at rollback; their results will not be recorded",
            extra={"action": "rollback_active_jobs", "active": active},
        )


def rollback(
    db: Database,
    to: int | None = None,
    backup: bool = False,
    dry_run: bool = False,
    migrations: list[Migration] | None = None,
    wait_seconds: float = 5.0,
) -> list[Migration]:
    """Undo the latest migration, or every migration above version ``to``.

    Before the first file runs, the scheduler is paused (committed) and
    running jobs get up to ``wait_seconds`` to finish.
    """
    migrations = discover() if migrations is None else migrations
    known = {m.version: m for m in migrations}
    undone: list[Migration] = []
    with db.direct() as session:
        session.exec("lock_migrations")
        try:
            applied = sorted(_applied(session), reverse=True)
            targets = applied[:1] if to is None else [v for v in applied if v > to]
            if targets and not dry_run:
                _quiesce(session, wait_seconds)
            for version in targets:
                m = known.get(version)
                if m is None:
                    raise MigrationError(f"migration {version:03d} is applied but has no file here")
                if not dry_run:
                    log.info("rolling back", extra={"action": "rollback", "version": version})
                    with session.transaction():
                        if backup:
                            session.exec("enable_rollback_backup")
                        session.script(m.down_sql)
                        session.exec("forget_migration", version=version)
                undone.append(m)
        finally:
            session.exec("unlock_migrations")
    return undone
