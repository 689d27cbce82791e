"""The runner and the migrations: order, checksums, locking, round trips, snapshot."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from tasks.db import Database
from tasks.errors import ChecksumMismatch, MigrationError
from tasks.migrate import discover, migrate, rollback, status

SNAPSHOT = Path(__file__).with_name("schema_snapshot.sql")
REPO = Path(__file__).resolve().parents[2]


def dump_schema(url: str) -> str:
    """pg_dump --schema-only, without comments, SETs and the runner's own table."""
    out = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = []
    for line in out.splitlines():
        if not line.strip() or line.startswith(("--", "SET ", "\\restrict", "\\unrestrict")):
            continue
        if line.startswith("SELECT pg_catalog.set_config"):
            continue
        lines.append(line.rstrip())
    text = "\n".join(lines) + "\n"
    # The runner's table is not part of the schema the migrations define.
    return re.sub(r"CREATE TABLE public\.schema_migrations \(.*?\);\n", "", text, flags=re.S)


def test_every_migration_has_its_rollback() -> None:
    migrations = discover()
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].version == 0
    assert all(m.down_sql.strip() for m in migrations)


def test_migrate_twice_is_a_no_op(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        first = migrate(db)
        assert [m.version for m in first] == [m.version for m in discover()]
        assert migrate(db) == []
        assert {s.state for s in status(db)} == {"applied"}
    finally:
        db.close()


def test_up_down_to_zero_and_up_again_round_trips(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        migrate(db)
        before = dump_schema(empty_db_url)
        undone = rollback(db, to=-1)
        assert [m.version for m in undone] == sorted((m.version for m in discover()), reverse=True)
        with psycopg.connect(empty_db_url) as conn:
            left = conn.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relname NOT LIKE 'schema_migrations%'"
            ).fetchone()
            assert left == (0,), "rollback left relations behind"
            funcs = conn.execute(
                "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
            ).fetchone()
            assert funcs == (0,), "rollback left functions behind"
        migrate(db)
        assert dump_schema(empty_db_url) == before
    finally:
        db.close()


def test_schema_matches_the_snapshot(db_url: str) -> None:
    current = dump_schema(db_url)
    if os.environ.get("UPDATE_SCHEMA_SNAPSHOT") == "1":
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), "run UPDATE_SCHEMA_SNAPSHOT=1 python -m pytest tests/migration"
    assert current == SNAPSHOT.read_text(), (
        "the migrated schema differs from tests/migration/schema_snapshot.sql; if the change is "
        "intended (a new migration), regenerate it: UPDATE_SCHEMA_SNAPSHOT=1 python -m pytest "
        "tests/migration"
    )


def test_an_edited_applied_migration_is_refused(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        migrations = discover()
        migrate(db, migrations)
        edited = [
            replace(m, up_sql=m.up_sql + "\n-- edited\n") if m.version == 1 else m
            for m in migrations
        ]
        with pytest.raises(ChecksumMismatch, match="001_initial_schema was edited"):
            migrate(db, edited)
        states = {s.version: s.state for s in status(db, edited)}
        assert states[1] == "drifted"
    finally:
        db.close()


def test_a_failing_migration_leaves_nothing_behind(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        migrations = discover()
        broken = [
            *migrations[:1],
            replace(migrations[1], up_sql=migrations[1].up_sql + "\nSELECT 1/0;"),
        ]
        with pytest.raises(
            MigrationError, match="migration 001_initial_schema failed: division by"
        ):
            migrate(db, broken)
        with psycopg.connect(empty_db_url) as conn:
            assert conn.execute("SELECT to_regclass('scheduled_jobs')").fetchone() == (None,)
            versions = conn.execute("SELECT version FROM schema_migrations").fetchall()
            assert versions == [(0,)]
    finally:
        db.close()


def test_two_deploys_at_once_apply_each_migration_once(empty_db_url: str) -> None:
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def deploy() -> None:
        db = Database(empty_db_url)
        try:
            results.append([m.version for m in migrate(db)])
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=deploy) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    applied = sorted(v for r in results for v in r)
    assert applied == sorted(m.version for m in discover())


def test_rollback_backup_and_dry_run(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        migrate(db)
        top = discover()[-1].version
        assert [m.version for m in rollback(db, to=0, dry_run=True)]
        assert {s.state for s in status(db)} == {"applied"}
        rollback(db, to=0, backup=True)
        with psycopg.connect(empty_db_url) as conn:
            assert conn.execute("SELECT to_regclass('scheduled_jobs_backup')").fetchone() != (None,)
            assert conn.execute("SELECT to_regclass('scheduled_jobs')").fetchone() == (None,)
        assert next(s.state for s in status(db)) == "applied"
        assert top > 0
    finally:
        db.close()


def test_a_rollback_without_its_file_is_an_error(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        migrate(db)
        with pytest.raises(MigrationError, match="applied but has no file"):
            rollback(db, migrations=discover()[:1])
    finally:
        db.close()


def test_the_wheel_ships_the_sql(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for m in discover():
        assert f"tasks/schema/migrations/{m.label}.sql" in names
        assert f"tasks/schema/rollback/{m.version:03d}_rollback_{m.name}.sql" in names
    shipped = {p.relative_to(REPO).as_posix() for p in (REPO / "tasks").rglob("*.py")}
    shipped |= {p.relative_to(REPO).as_posix() for p in (REPO / "tasks").rglob("*.sql")}
    assert shipped - names == set(), "modules missing from the wheel (pyproject packages list)"


def test_rollback_pauses_the_scheduler_and_waits_for_running_jobs(empty_db_url: str) -> None:
    import time

    db = Database(empty_db_url)
    try:
        migrate(db)
        with psycopg.connect(empty_db_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO scheduled_jobs (id, job_type, frequency_type, status)"
                " VALUES ('busy', 'x', 'once', 'running')"
            )
            started = time.monotonic()
            rollback(db, to=2, wait_seconds=1.0)
            assert time.monotonic() - started >= 1.0
            assert conn.execute("SELECT enabled FROM scheduler_config").fetchone() == (False,)
    finally:
        db.close()
