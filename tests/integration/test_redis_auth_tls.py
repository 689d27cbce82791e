"""Redis with a password and TLS (rediss://): broker, redbeat lock and worker all work."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from celery.contrib.testing.worker import start_worker

from tasks.beat import MealScheduler
from tasks.celery_app import create_app
from tasks.settings import Settings
from tests.support import OwnRedis, executions, insert_job, job, wait_until


def _certs(root: Path) -> None:
    def run(*argv: str) -> None:
        subprocess.run(argv, cwd=root, check=True, capture_output=True)

    run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=meal-scheduler-test-ca",
    )
    run(
        "openssl",
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (root / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "openssl",
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    )


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    _certs(tmp_path)
    server = OwnRedis(
        extra=(
            "--port",
            "0",
            "--tls-port",
            "{port}",
            "--tls-cert-file",
            str(tmp_path / "server.pem"),
            "--tls-key-file",
            str(tmp_path / "server.key"),
            "--tls-ca-cert-file",
            str(tmp_path / "ca.pem"),
            "--tls-auth-clients",
            "no",
            "--requirepass",
            "s3cret",
        ),
        url="rediss://:s3cret@127.0.0.1:{port}/0?ssl_cert_reqs=required&ssl_ca_certs="
        + str(tmp_path / "ca.pem"),
    )
    server.start()
    yield server
    server.stop()


def test_password_and_tls_redis_carry_the_whole_flow(
    tls_redis: OwnRedis, db_url: str, db: psycopg.Connection[Any]
) -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": db_url,
            "REDIS_URL": tls_redis.url,
            "TASKS_HANDLER_MODULES": "tests.handlers_for_tests",
        }
    )
    app = create_app(settings)
    insert_job(db, "over-tls")
    scheduler = MealScheduler(app=app, lazy=True)
    try:
        with start_worker(app, pool="threads", concurrency=1, perform_ping_check=False):
            scheduler.tick()  # takes the redbeat lock over TLS, claims, publishes
            assert scheduler.lock is not None
            wait_until(lambda: job(db, "over-tls")["status"] == "completed")
        [run] = executions(db, "over-tls")
        assert run["status"] == "completed"
    finally:
        scheduler.close()


def test_a_wrong_password_is_a_clear_error(tls_redis: OwnRedis) -> None:
    import redis

    bad = tls_redis.url.replace("s3cret", "wrong")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis.from_url(bad).ping()
