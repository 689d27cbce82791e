"""Fixtures of the integration tests, beside the shared ones in ``tests/conftest.py``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from tasks.jobs.settings import job_settings


@pytest.fixture(autouse=True)
def fresh_job_settings() -> Iterator[None]:
    """A worker reads the jobs' settings once; each test is a fresh worker."""
    job_settings.cache_clear()
    yield
    job_settings.cache_clear()


@pytest.fixture(scope="module")
def shared_db(template_db: str):
    """One migrated database for a module's read-only cases.

    A fresh database per case costs ~0.3 s; these cases write nothing that
    outlives them (refused writes, or settings each case sets itself), so they
    share one and keep the suite fast.
    """
    from tests.conftest import ADMIN_URL, create_database, drop_database, with_database

    name = create_database(template_db)
    try:
        with psycopg.connect(
            with_database(ADMIN_URL, name), autocommit=True, row_factory=dict_row
        ) as conn:
            yield conn
    finally:
        drop_database(name)


def url_as(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


# Login names say what they stand for: t_<what>_<hex8>.
_PREFIXES = {
    "meal_scheduler_runtime": "t_runtime",
    "meal_scheduler_jobs": "t_jobs",
    "meal_scheduler_readonly": "t_dash",
    "meal_scheduler_beat": "t_beat",
    "meal_scheduler_worker": "t_worker",
    "meal_scheduler_executor": "t_exec",
    "meal_scheduler_clock": "t_clock",
}


@pytest.fixture
def login_as(db_url: str) -> Iterator[Callable[..., str]]:
    """``login_as(*groups)``: a new LOGIN role, member of ``groups``; its URL.

    A random password, so the tests also pass where pg_hba asks for one;
    the roles are dropped afterwards (they are cluster-wide).
    """
    made: list[str] = []

    def make(*groups: str) -> str:
        name = f"{_PREFIXES[groups[0]]}_{uuid.uuid4().hex[:8]}"
        password = uuid.uuid4().hex
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )
            made.append(name)
            # The deployer's step, as docs/security.md writes it.
            admin.execute(
                sql.SQL("GRANT {} TO {}").format(
                    sql.SQL(", ").join(map(sql.Identifier, groups)), sql.Identifier(name)
                )
            )
        return url_as(db_url, name, password)

    try:
        yield make
    finally:
        with psycopg.connect(db_url, autocommit=True) as admin:
            for name in made:
                try:
                    # Nothing should be owned; but a role that owns something
                    # cannot be dropped, and must not outlive the test.
                    admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
                finally:
                    admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
