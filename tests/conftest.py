"""Shared fixtures: real Postgres and Redis, a throwaway database per test.

One template database is migrated per run; each test gets
``CREATE DATABASE test_<uuid> TEMPLATE <template>`` (fast) and drops it
``WITH (FORCE)`` afterwards. Each test also gets its own Redis db number,
flushed before and after. A missing server fails the run, naming the server
and the variable that points at it: a skipped suite is not a pass.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
from psycopg.rows import dict_row

from tasks.db import Database
from tasks.migrate import migrate
from tasks.settings import Settings

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://root@127.0.0.1:5432/postgres")
REDIS_BASE_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")


def with_database(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def admin_exec(sql: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def create_database(template: str | None = None) -> str:
    name = f"test_{uuid.uuid4().hex[:16]}"
    suffix = f" TEMPLATE {template}" if template else ""
    admin_exec(f"CREATE DATABASE {name}{suffix}")
    return name


def drop_database(name: str) -> None:
    admin_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session", autouse=True)
def servers_up() -> None:
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.fail(
            f"Postgres is not reachable at TEST_DATABASE_URL={ADMIN_URL} ({exc}); "
            "start it or point TEST_DATABASE_URL at one",
            pytrace=False,
        )
    try:
        redis.Redis.from_url(REDIS_BASE_URL, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at TEST_REDIS_URL={REDIS_BASE_URL} ({exc}); "
            "start it or point TEST_REDIS_URL at one",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def template_db(servers_up: None) -> Iterator[str]:
    name = f"tpl_{uuid.uuid4().hex[:16]}"
    admin_exec(f"CREATE DATABASE {name}")
    database = Database(with_database(ADMIN_URL, name))
    try:
        migrate(database)
    finally:
        database.close()
    yield name
    drop_database(name)


@pytest.fixture
def db_url(template_db: str) -> Iterator[str]:
    """A fresh, fully migrated database for this test."""
    name = create_database(template_db)
    yield with_database(ADMIN_URL, name)
    drop_database(name)


@pytest.fixture
def empty_db_url(servers_up: None) -> Iterator[str]:
    """A fresh database with no migrations applied."""
    name = create_database()
    yield with_database(ADMIN_URL, name)
    drop_database(name)


@pytest.fixture
def db(db_url: str) -> Iterator[psycopg.Connection[dict[str, object]]]:
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.close()


# Db numbers 12-15 are left to the benchmarks (bench/), which may run meanwhile.
_redis_dbs = itertools.cycle(range(1, 12))


@pytest.fixture
def redis_url(servers_up: None) -> Iterator[str]:
    """A Redis db number of its own, empty before and after the test."""
    url = f"{REDIS_BASE_URL.rstrip('/')}/{next(_redis_dbs)}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    with contextlib.suppress(redis.RedisError):
        client.flushdb()
    client.close()


@pytest.fixture
def settings(db_url: str, redis_url: str) -> Settings:
    return Settings.from_env(
        {"DATABASE_URL": db_url, "REDIS_URL": redis_url, "TASKS_TICK_SECONDS": "0.2"}
    )
