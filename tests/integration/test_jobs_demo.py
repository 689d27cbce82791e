"""seed_demo: idempotent, and every job has something to work on."""

from __future__ import annotations

from tasks.jobs.advisor import daily_advisor
from tasks.jobs.demo import seed_demo
from tasks.jobs.generation import weekly_generation
from tasks.jobs.trends import weekly_trends
from tasks.store import encode_output
from tests.integration.jobs_support import make_ctx


def test_seed_demo_is_idempotent_and_feeds_every_job(db, database, monkeypatch):
    monkeypatch.delenv("TASKS_SMTP_URL", raising=False)
    first = seed_demo(database)
    counts = {
        t: db.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"]
        for t in ("users", "recipes", "food_log", "scheduled_jobs")
    }
    second = seed_demo(database)
    assert first == second
    assert counts == {
        t: db.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"] for t in counts
    }
    assert counts["recipes"] == 40 and counts["users"] == 3
    assert first["user_jobs"] == 9
    zones = {u["timezone"] for u in first["users"]}
    assert zones == {"Europe/Berlin", "America/New_York", "Asia/Tokyo"}

    for user in first["users"]:
        plan = weekly_generation(make_ctx(database, "weekly_generation", user["id"]))
        assert plan["created"] is True and plan["unfilled"] == []
        assert plan["meals"] == plan["distinct_recipes"]  # the catalog is big enough
        assert max(d["distance_pct"] for d in plan["days"]) < 25
        advice = daily_advisor(make_ctx(database, "daily_advisor", user["id"]))
        assert advice["entries"] >= 2 and len(advice["recommendations"]) == 3
        trends = weekly_trends(make_ctx(database, "weekly_trends", user["id"]))
        assert trends["stored"] is True and trends["current"]["days_logged"] == 7
        for output in (plan, advice, trends):  # what the worker stores must be strict JSON
            assert encode_output(output)
