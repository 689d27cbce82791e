"""Fixtures of the integration tests, beside the shared ones in ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
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
