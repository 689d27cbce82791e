"""The web dashboard over HTTP, against a real migrated database.

The server is the real application under uvicorn (tests/dashboard_support);
requests go through httpx. What the pages must show is checked against
Postgres; the admin's actions against ``admin_actions``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tasks.db import Database
from tasks.errors import DatabaseError
from tasks.settings import Settings
from tests.dashboard_support import ADMIN, DST_JOB, PASSWORD, Conn, seed, serve, web_settings
from tests.support import insert_job


@pytest.fixture
def web(db_url: str, redis_url: str, db: Conn) -> Iterator[str]:
    seed(db)
    with serve(web_settings(db_url, redis_url)) as url:
        yield url


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match[1]


def sign_in(client: httpx.Client, password: str = PASSWORD) -> httpx.Response:
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"csrf": token, "user": ADMIN, "password": password})


def audit_rows(db: Conn) -> list[dict[str, Any]]:
    return db.execute(
        "SELECT actor, action, target, outcome, detail FROM admin_actions ORDER BY id"
    ).fetchall()


def test_overview_shows_the_state_of_the_fleet(web: str) -> None:
    page = httpx.get(web + "/").text
    assert "running" in page
    assert re.search(r'id="card-backlog".*?critical</td><td class="num">1<', page, re.S)
    assert "no live worker handles <code>daily_advisor</code>" in page
    assert "weekly_trends</code>" not in page  # its only job is disabled
    assert "w1@host-a" in page and "w2@host-b" in page
    assert 'id="outcomes-chart"' in page and 'id="lag-chart"' in page
    # Failed and abandoned attempts of the seed: 3 in the last 24 h.
    assert re.search(r'id="card-failures".*?>3</a>', page, re.S)
    # The live part alone, for app.js.
    live = httpx.get(web + "/", headers={"X-Live": "1"})
    assert live.status_code == 200 and live.text.lstrip().startswith('<section class="cards">')
    assert "Content-Security-Policy" in live.headers


def test_jobs_filters_and_keyset_pages(web: str, db: Conn) -> None:
    page = httpx.get(web + "/jobs", params={"type": "auto_sync"}).text
    ids = re.findall(r'<td><a href="/jobs/([^"]+)">', page)
    assert ids == ["late-critical", "late-low", "sync-0", "sync-1", "sync-2", "sync-3"]
    failed = httpx.get(web + "/jobs", params={"status": "failed"}).text
    assert re.findall(r'<td><a href="/jobs/([^"]+)">', failed) == ["mail-1", "plan-1", "sync-3"]
    disabled = httpx.get(web + "/jobs", params={"enabled": "no"}).text
    assert re.findall(r'<td><a href="/jobs/([^"]+)">', disabled) == ["off"]
    db.execute("INSERT INTO users (id, email, timezone) VALUES (7, 'a@example.org', 'UTC')")
    mine = httpx.get(web + "/jobs", params={"user": "7"}).text
    assert len(re.findall(r'<td><a href="/jobs/[^"]+%3Auser%3A7">', mine)) >= 3
    # 120 more jobs: three pages of 50, each after the last id of the one before.
    for i in range(120):
        insert_job(db, f"bulk-{i:03d}", "bulk", due="now() + interval '1 hour'")
    seen: list[str] = []
    url: str | None = web + "/jobs?type=bulk"
    while url:
        html = httpx.get(url).text
        seen += re.findall(r'<td><a href="/jobs/([^"]+)">', html)
        nxt = re.search(r'href="([^"]+)" id="next-page"', html)
        url = web + nxt[1].replace("&amp;", "&") if nxt else None
    assert seen == [f"bulk-{i:03d}" for i in range(120)]
    bad = httpx.get(web + "/jobs", params={"status": "sleeping"})
    assert bad.status_code == 400 and "status must be one of" in bad.text


def test_job_detail_config_dst_history_dependents(web: str) -> None:
    page = httpx.get(web + "/jobs/" + DST_JOB).text
    assert "Europe/Berlin" in page
    assert 'id="dependents"><a href="/jobs/off">off</a>' in page
    # 2027-03-28: 02:30 does not exist in Berlin; the run moves to 03:30.
    assert "DST: shifted by gap (02:30 -&gt; 03:30)" in page
    assert "UTC offset changed +01:00 -&gt; +02:00" in page
    assert page.count('class="dst-mark"') >= 1
    failed = httpx.get(web + "/jobs/sync-3").text
    assert "RuntimeError: Tandoor said 502" in failed
    done = httpx.get(web + "/jobs/sync-0").text
    assert "{&#34;plans&#34;: 1}" in done or '{"plans": 1}' in done or "&#34;plans&#34;" in done
    assert httpx.get(web + "/jobs/nope").status_code == 404


def test_executions_and_failures_views_filter(web: str) -> None:
    runs = httpx.get(web + "/runs", params={"type": "auto_sync"}).text
    assert len(re.findall(r'<td class="num">\d+</td>\s*<td><a href="/jobs/sync-', runs)) == 4
    failures = httpx.get(web + "/failures").text
    assert set(re.findall(r'<td><a href="/jobs/([^"]+)">', failures)) == {
        "sync-3",
        "plan-1",
        "mail-1",
    }
    abandoned = httpx.get(web + "/failures", params={"status": "abandoned"}).text
    assert set(re.findall(r'<td><a href="/jobs/([^"]+)">', abandoned)) == {"mail-1"}
    assert "lease expired" in abandoned
    manual = httpx.get(web + "/runs", params={"trigger": "manual"}).text
    assert "no execution matches" in manual
    assert httpx.get(web + "/runs", params={"since": "soon"}).status_code == 400


def test_actions_are_refused_signed_out_and_recorded_signed_in(web: str, db: Conn) -> None:
    with httpx.Client(base_url=web) as client:
        # A signed-out session has a CSRF token too (the sign-in form's).
        token = csrf_of(client.get("/login").text)
        refused = client.post("/actions/retry", data={"csrf": token, "job_id": "sync-3"})
        assert refused.status_code == 403
        assert audit_rows(db) == []
        assert sign_in(client, "wrong").status_code == 401
        assert sign_in(client).status_code == 303
        page = client.get("/jobs/sync-3").text
        assert 'id="signed-in">admin: ops' in page
        token = csrf_of(page)
        # Without the token, or with another one: refused, nothing changes.
        assert client.post("/actions/retry", data={"job_id": "sync-3"}).status_code == 403
        assert (
            client.post("/actions/retry", data={"csrf": "x" * 43, "job_id": "sync-3"}).status_code
            == 403
        )
        assert audit_rows(db) == []
        done = client.post(
            "/actions/retry", data={"csrf": token, "job_id": "sync-3", "next": "/jobs/sync-3"}
        )
        assert done.status_code == 303 and done.headers["location"] == "/jobs/sync-3"
        job = db.execute(
            "SELECT status::text, next_trigger::text FROM scheduled_jobs WHERE id = 'sync-3'"
        ).fetchone()
        assert job == {"status": "pending", "next_trigger": "manual"}
        # A refusal from Postgres is recorded too: sync-3 is not failed any more.
        client.post("/actions/retry", data={"csrf": token, "job_id": "sync-3"})
        client.post("/actions/pause", data={"csrf": token})
        client.post("/actions/disable", data={"csrf": token, "job_id": "sync-0"})
        client.post("/actions/trigger", data={"csrf": token, "job_id": "sync-0"})
    rows = audit_rows(db)
    assert [(r["action"], r["target"], r["outcome"]) for r in rows] == [
        ("retry", "sync-3", "done"),
        ("retry", "sync-3", "refused"),
        ("pause", None, "done"),
        ("disable", "sync-0", "done"),
        ("trigger", "sync-0", "refused"),
    ]
    assert all(r["actor"] == ADMIN for r in rows)
    assert "only a failed job is retried" in rows[1]["detail"]
    assert "disabled" in rows[4]["detail"]
    assert db.execute("SELECT enabled FROM scheduler_config").fetchone() == {"enabled": False}
    audit = httpx.get(web + "/audit").text
    assert audit.count('class="status s-refused"') == 2


def test_without_an_admin_every_action_is_refused(db_url: str, redis_url: str, db: Conn) -> None:
    seed(db)
    settings = Settings.from_env({"DATABASE_URL": db_url, "REDIS_URL": redis_url})
    with serve(settings) as web, httpx.Client(base_url=web) as client:
        assert "no admin configured" in client.get("/").text
        assert "No admin is configured" in client.get("/login").text
        token = "t" * 43
        response = client.post("/login", data={"csrf": token, "user": "admin", "password": "admin"})
        assert response.status_code in (401, 403)
        assert client.post("/actions/pause", data={"csrf": token}).status_code == 403
    assert audit_rows(db) == []


def test_reads_run_as_the_readonly_role(db_url: str) -> None:
    reader = Database(db_url, 1, role="meal_scheduler_readonly", custom_plans=True)
    try:
        assert reader.many("list_job_types", enabled_only=False) == []
        with pytest.raises(DatabaseError, match="permission denied"):
            reader.one(
                "record_admin_action",
                actor="x",
                action="pause",
                target=None,
                outcome="done",
                detail=None,
                client=None,
            )
    finally:
        reader.close()


def test_an_attempt_records_its_due_time(db: Conn) -> None:
    insert_job(db, "lagging", "auto_sync", due="now() - interval '2 seconds'")
    due = db.execute("SELECT scheduled_for FROM scheduled_jobs WHERE id = 'lagging'").fetchone()
    row = db.execute("SELECT job_id, dispatch_id FROM claim_due_jobs_v1(10, now())").fetchone()
    assert row is not None
    db.execute(
        "SELECT * FROM start_execution_v1('lagging', %s, 'w', 't', 30, now())",
        (row["dispatch_id"],),
    )
    ex = db.execute("SELECT scheduled_for, started_at FROM job_executions").fetchone()
    assert due is not None and ex is not None
    assert ex["scheduled_for"] == due["scheduled_for"]
    assert ex["started_at"] - ex["scheduled_for"] >= timedelta(seconds=2)
