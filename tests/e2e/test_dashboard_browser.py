"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

The server is the real command (``python -m tasks web``) in a subprocess.
Screenshots go to the test's tmp dir; with ``UPDATE_SCREENSHOTS=1`` they
replace the ones docs/dashboard.md shows (docs/img/).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.dashboard_support import (
    ADMIN,
    DST_JOB,
    PASSWORD,
    PASSWORD_HASH,
    SECRET,
    Conn,
    seed,
    seed_history,
)
from tests.support import REPO, free_port, stop, wait_until

CHROMIUM = "/usr/bin/chromium"
PREFIX = "dash-browser"
DOCS_IMG = REPO / "docs" / "img"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def web(db_url: str, redis_url: str, db: Conn, tmp_path: Path) -> Iterator[str]:
    seed(db)
    seed_history(db)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKS_")}
    env.update(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        TASKS_ADMIN_USER=ADMIN,
        TASKS_ADMIN_PASSWORD_HASH=PASSWORD_HASH,
        TASKS_WEB_SECRET=SECRET,
        TASKS_KEY_PREFIX=PREFIX,
        PYTHONPATH=str(REPO),
    )
    # A beat holds the lock, as in a running deployment.
    redis.Redis.from_url(redis_url).set(f"{PREFIX}:lock", "beat-1", px=600_000)
    log = tmp_path / "web.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tasks", "web", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            return httpx.get(url + "/login", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=30)
        yield url
    finally:
        stop(proc)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def shot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_IMG / f"{name}.png")


def test_overview_refreshes_in_place(web: str, page: Page, db: Conn, tmp_path: Path) -> None:
    page.goto(web + "/")
    expect(page.locator("#card-scheduler")).to_contain_text("running")
    expect(page.locator("#card-backlog")).to_contain_text("critical")
    expect(page.locator("#workers")).to_contain_text("w1@host-a")
    expect(page.locator(".unhandled", has_text="daily_advisor")).to_have_count(1)
    assert page.locator("#outcomes-chart rect.bar").count() > 100
    assert page.locator("#outcomes-chart rect.bar.failed").count() > 0
    assert page.locator("#lag-chart polyline.p99").count() == 1
    shot(page, tmp_path, "overview")
    # Live refresh without a reload: the page's own JS state survives.
    page.evaluate("window.stillHere = 'yes'")
    db.execute("UPDATE scheduler_config SET enabled = false")
    expect(page.locator("#card-scheduler")).to_contain_text("paused", timeout=15_000)
    assert page.evaluate("window.stillHere") == "yes"


def test_jobs_filters(web: str, page: Page, tmp_path: Path) -> None:
    page.goto(web + "/jobs")
    page.select_option("#f-type", "auto_sync")
    page.click("#job-filters button[type=submit]")
    page.wait_for_url("**/jobs?type=auto_sync*")
    ids = page.locator("#jobs tbody tr td:first-child a").all_inner_texts()
    assert ids == ["late-critical", "late-low", "sync-0", "sync-1", "sync-2", "sync-3"]
    page.select_option("#f-type", "")
    page.select_option("#f-status", "failed")
    page.click("#job-filters button[type=submit]")
    page.wait_for_url("**status=failed*")
    expect(page.locator("#jobs tbody tr")).to_have_count(3)
    page.goto(web + "/jobs")
    shot(page, tmp_path, "jobs")
    page.goto(web + "/failures")
    page.fill("#f-since", "30m")
    page.select_option("#f-type", "auto_sync")
    page.click("#run-filters button[type=submit]")
    expect(page.locator("#failures")).to_contain_text("upstream timed out")
    shot(page, tmp_path, "failures")


def test_job_detail_marks_dst_shifts(web: str, page: Page, tmp_path: Path) -> None:
    page.goto(web + "/jobs/" + DST_JOB)
    expect(page.locator("h1")).to_contain_text(DST_JOB)
    fires = page.locator("#next-fires tbody tr")
    expect(fires).to_have_count(10)
    marked = page.locator("#next-fires tr.dst")
    expect(marked).to_have_count(1)
    expect(marked).to_contain_text("03:30")
    expect(marked).to_contain_text("DST: shifted by gap (02:30 -> 03:30)")
    expect(page.locator("#dependents")).to_contain_text("off")
    shot(page, tmp_path, "job-dst")
    page.goto(web + "/jobs/sync-0")
    expect(page.locator("#history")).to_contain_text('"ok": true')


def test_admin_action_refused_signed_out_recorded_signed_in(
    web: str, page: Page, db: Conn, tmp_path: Path
) -> None:
    page.goto(web + "/jobs/sync-3")
    assert page.locator("#job-actions").count() == 0
    # A signed-out browser that posts the form anyway (with a valid token of
    # its own session) is refused, and nothing is recorded.
    page.goto(web + "/login")
    token = page.locator("input[name=csrf]").first.input_value()
    status = page.evaluate(
        """async ([token]) => (await fetch('/actions/retry', {method: 'POST',
             body: new URLSearchParams({csrf: token, job_id: 'sync-3'})})).status""",
        [token],
    )
    assert status == 403
    assert db.execute("SELECT count(*) AS n FROM admin_actions").fetchone() == {"n": 0}

    page.fill("#user", ADMIN)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#signed-in")).to_contain_text(ADMIN)
    page.goto(web + "/jobs/sync-3")
    page.click("#job-actions button[data-action=retry]")
    expect(page.locator("#flash")).to_contain_text("job sync-3 retried")
    rows = db.execute("SELECT actor, action, target, outcome FROM admin_actions").fetchall()
    assert rows == [{"actor": ADMIN, "action": "retry", "target": "sync-3", "outcome": "done"}]
    shot(page, tmp_path, "job-admin")
    page.goto(web + "/audit")
    expect(page.locator("#audit tbody tr")).to_have_count(1)
    page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible()
