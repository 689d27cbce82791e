"""Redis with a password and TLS (rediss://): broker, redbeat lock and worker
all work with the default settings (the URL names only the CA), and both the
broker and redbeat refuse a server whose certificate comes from another CA
or names another host."""

from __future__ import annotations

import logging
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from celery.contrib.testing.worker import start_worker

from tasks.beat import MealScheduler
from tasks.celery_app import create_app
from tasks.redis_transport import redis_tls_options
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
    # A second CA, which signed nothing this server presents.
    run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "other-ca.key",
        "-out",
        "other-ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=someone-else-ca",
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
        # No ssl_cert_reqs: the default path (verify certificate and host).
        url="rediss://:s3cret@127.0.0.1:{port}/0?ssl_ca_certs=" + str(tmp_path / "ca.pem"),
    )
    server.ca = tmp_path / "ca.pem"  # type: ignore[attr-defined]
    server.other_ca = tmp_path / "other-ca.pem"  # type: ignore[attr-defined]
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


def _refused(url: str, db_url: str) -> list[str]:
    """Connect the broker and redbeat's client to ``url``; both must fail on TLS."""
    import redis
    from kombu.exceptions import OperationalError
    from redbeat.schedulers import get_redis

    app = create_app(Settings.from_env({"DATABASE_URL": db_url, "REDIS_URL": url}))
    errors = []
    with (
        pytest.raises((OperationalError, redis.ConnectionError, ssl.SSLError)) as broker,
        app.connection_for_write() as conn,
    ):
        conn.ensure_connection(max_retries=0, timeout=5)
    errors.append(str(broker.value))
    with pytest.raises(redis.ConnectionError) as beat:
        get_redis(app).ping()
    errors.append(str(beat.value))
    app.meal_runtime.db.close()
    return errors


def test_a_certificate_from_another_ca_is_refused(tls_redis: OwnRedis, db_url: str) -> None:
    url = tls_redis.url.replace(str(tls_redis.ca), str(tls_redis.other_ca))  # type: ignore[attr-defined]
    for error in _refused(url, db_url):
        assert "certificate verify failed" in error


def test_a_certificate_for_another_host_is_refused(tls_redis: OwnRedis, db_url: str) -> None:
    # The certificate names 127.0.0.1 only; "localhost" is the same server.
    url = tls_redis.url.replace("@127.0.0.1:", "@localhost:")
    for error in _refused(url, db_url):
        assert "certificate verify failed" in error
        assert "Hostname mismatch" in error or "IP address mismatch" in error


def test_ssl_cert_reqs_none_is_accepted_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="tasks.redis_transport"):
        options = redis_tls_options("rediss://h:6380/0?ssl_cert_reqs=none")
    assert options == {"ssl_cert_reqs": ssl.CERT_NONE, "ssl_check_hostname": False}
    assert [r.action for r in caplog.records] == ["redis_tls_unverified"]  # type: ignore[attr-defined]
    assert redis_tls_options("rediss://h:6380/0") == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "ssl_check_hostname": True,
    }
