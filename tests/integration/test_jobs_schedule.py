"""Per-user jobs: created by the users trigger, moved on a zone change, firing
at local wall-clock times (checked at fixed instants, never by waiting), and
install_defaults being idempotent."""

from __future__ import annotations

import json

from tasks.jobs.defaults import install_defaults
from tests.integration.jobs_support import add_user, utc

USER_JOBS = ("weekly_generation", "daily_advisor", "weekly_trends")


def jobs_of(db, user_id: int) -> dict[str, dict]:
    rows = db.execute(
        """SELECT id, job_type, frequency_type::text AS ftype, frequency_config, parameters,
                  user_id, priority::text AS priority, status::text AS status, scheduled_for,
                  occurrence_at
           FROM scheduled_jobs WHERE user_id = %s""",
        (user_id,),
    ).fetchall()
    return {r["job_type"]: r for r in rows}


def local(db, instant, zone: str) -> tuple[int, int, int]:
    """(day of week 0 = Sunday, hour, minute) of an instant in a zone."""
    row = db.execute(
        """SELECT extract(dow FROM %(t)s AT TIME ZONE %(z)s)::int AS dow,
                  extract(hour FROM %(t)s AT TIME ZONE %(z)s)::int AS hour,
                  extract(minute FROM %(t)s AT TIME ZONE %(z)s)::int AS minute""",
        {"t": instant, "z": zone},
    ).fetchone()
    return row["dow"], row["hour"], row["minute"]


def next_run(db, job: dict, after):
    return db.execute(
        "SELECT calculate_next_schedule(%s, %s::jsonb, %s) AS t",
        (job["ftype"], json.dumps(job["frequency_config"]), after),
    ).fetchone()["t"]


def test_inserting_a_user_creates_their_jobs_in_their_zone(db):
    user = add_user(db, "ada@example.com", "Europe/Berlin")
    now = db.execute("SELECT now() AS t").fetchone()["t"]
    jobs = jobs_of(db, user)
    assert set(jobs) == set(USER_JOBS)
    gen = jobs["weekly_generation"]
    assert gen["id"] == f"weekly_generation:user:{user}"
    assert gen["parameters"] == {"user_id": user} and gen["user_id"] == user
    assert gen["frequency_config"] == {
        "day": 5,
        "hour": 6,
        "minute": 0,
        "timezone": "Europe/Berlin",
    }
    assert gen["status"] == "pending" and gen["scheduled_for"] > now
    assert gen["scheduled_for"] == gen["occurrence_at"]
    assert local(db, gen["scheduled_for"], "Europe/Berlin") == (5, 6, 0)
    assert local(db, jobs["daily_advisor"]["scheduled_for"], "Europe/Berlin")[1:] == (20, 0)
    assert local(db, jobs["weekly_trends"]["scheduled_for"], "Europe/Berlin") == (4, 20, 0)
    assert jobs["daily_advisor"]["id"] == f"daily_advisor:user:{user}"
    assert jobs["weekly_trends"]["id"] == f"weekly_trends:user:{user}"


def test_weekly_generation_fires_at_six_local_in_every_zone(db):
    zones = {"Europe/Berlin": None, "America/New_York": None, "Asia/Tokyo": None}
    for i, zone in enumerate(zones):
        zones[zone] = jobs_of(db, add_user(db, f"u{i}@example.com", zone))["weekly_generation"]
    wednesday = utc("2026-03-04 12:00")
    assert {z: next_run(db, j, wednesday) for z, j in zones.items()} == {
        "Europe/Berlin": utc("2026-03-06 05:00"),  # 06:00 CET
        "America/New_York": utc("2026-03-06 11:00"),  # 06:00 EST
        "Asia/Tokyo": utc("2026-03-05 21:00"),  # Friday 06:00 JST is Thursday in UTC
    }
    # A week later New York is on daylight time: still 06:00 local.
    assert next_run(db, zones["America/New_York"], utc("2026-03-11 12:00")) == utc(
        "2026-03-13 10:00"
    )
    # The daily advisor at 20:00 local.
    advisor = jobs_of(db, add_user(db, "tokyo2@example.com", "Asia/Tokyo"))["daily_advisor"]
    assert next_run(db, advisor, wednesday) == utc("2026-03-05 11:00")


def test_a_zone_change_moves_the_jobs(db):
    user = add_user(db, "ada@example.com", "Europe/Berlin")
    before = jobs_of(db, user)
    db.execute(
        "UPDATE scheduled_jobs SET status = 'queued' WHERE id = %s", (f"weekly_trends:user:{user}",)
    )
    db.execute("UPDATE users SET timezone = 'America/Los_Angeles' WHERE id = %s", (user,))
    after = jobs_of(db, user)
    for job_type in USER_JOBS:
        assert after[job_type]["frequency_config"]["timezone"] == "America/Los_Angeles"
    gen = after["weekly_generation"]
    assert local(db, gen["scheduled_for"], "America/Los_Angeles") == (5, 6, 0)
    assert gen["scheduled_for"] != before["weekly_generation"]["scheduled_for"]
    assert gen["occurrence_at"] == gen["scheduled_for"]
    assert local(db, after["daily_advisor"]["scheduled_for"], "America/Los_Angeles")[1:] == (20, 0)
    # A job already handed to a worker keeps its time; its next run uses the new zone.
    trends = after["weekly_trends"]
    assert trends["scheduled_for"] == before["weekly_trends"]["scheduled_for"]
    # Updating something else leaves the jobs alone.
    db.execute("UPDATE users SET email = 'ada2@example.com' WHERE id = %s", (user,))
    assert jobs_of(db, user) == after


def test_deleting_a_user_deletes_their_jobs(db):
    user = add_user(db, "ada@example.com")
    db.execute("DELETE FROM users WHERE id = %s", (user,))
    assert db.execute("SELECT count(*) AS n FROM scheduled_jobs").fetchone()["n"] == 0


def test_install_defaults_backfills_and_is_idempotent(db, database):
    db.execute("SET meal_scheduler.user_jobs = 'off'")  # users from before migration 003
    old = [add_user(db, f"old{i}@example.com", "Asia/Tokyo") for i in range(2)]
    db.execute("RESET meal_scheduler.user_jobs")
    assert all(jobs_of(db, u) == {} for u in old)
    new = add_user(db, "new@example.com")

    first = install_defaults(database, now=utc("2026-03-04 12:00"))
    assert first.changed is True
    assert first.created == {
        "auto_sync": 1,
        "weekly_generation": 2,
        "daily_advisor": 2,
        "weekly_trends": 2,
    }
    assert first.existing == {
        "auto_sync": 0,
        "weekly_generation": 1,
        "daily_advisor": 1,
        "weekly_trends": 1,
    }
    assert first.message.startswith("installed 7 default job(s)")
    gen = jobs_of(db, old[0])["weekly_generation"]
    assert gen["scheduled_for"] == utc("2026-03-05 21:00")  # Friday 06:00 Tokyo
    assert gen["frequency_config"]["timezone"] == "Asia/Tokyo"
    assert set(jobs_of(db, new)) == set(USER_JOBS)
    sync = db.execute("SELECT * FROM scheduled_jobs WHERE id = 'auto_sync:system'").fetchone()
    assert sync["user_id"] is None and sync["frequency_config"] == {"hours": 2}
    assert str(sync["frequency_type"]) == "every_n_hours"

    snapshot = db.execute("SELECT * FROM scheduled_jobs ORDER BY id").fetchall()
    second = install_defaults(database)
    assert second.changed is False
    assert set(second.created.values()) == {0}
    assert second.message == "default jobs already installed (10 jobs); nothing changed"
    assert second.as_dict()["changed"] is False
    assert db.execute("SELECT * FROM scheduled_jobs ORDER BY id").fetchall() == snapshot


def test_one_user_with_a_bad_zone_does_not_stop_install_defaults(db, database) -> None:
    from tasks.jobs.defaults import install_defaults

    db.execute("SET session_replication_role = replica")  # a row older than the zone check
    db.execute("INSERT INTO users (email, timezone) VALUES ('old@example.com', 'US/Pacific-New')")
    db.execute("SET session_replication_role = DEFAULT")
    db.execute("INSERT INTO users (email, timezone) VALUES ('new@example.com', 'Asia/Tokyo')")
    db.execute("DELETE FROM scheduled_jobs")
    result = install_defaults(database)
    assert result.created["weekly_generation"] == 1
    assert result.created["auto_sync"] == 1
