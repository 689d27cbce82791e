"""weekly_generation against real Postgres: cooldowns, repeats, determinism,
idempotency, relaxation on a tiny catalog, atomicity, and the user's week."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tasks.errors import DatabaseError
from tasks.jobs.generation import weekly_generation
from tasks.jobs.planner import METHOD
from tests.integration.jobs_support import add_recipe, add_user, make_ctx, utc

FRIDAY_6_BERLIN = utc("2026-03-06 05:00")  # Friday 06:00 CET
WEEK = date(2026, 3, 9)  # the Monday after


def rotate(db, user_id: int, recipe_id: str, meal_type: str, used: date) -> None:
    db.execute(
        "SELECT update_recipe_rotation(%s, %s, %s, %s)", (user_id, recipe_id, meal_type, used)
    )


def rotation(db, user_id: int) -> list[tuple[str, str, date, int]]:
    rows = db.execute(
        """SELECT recipe_id, meal_type::text AS meal_type, last_used_date, use_count
           FROM recipe_rotation WHERE user_id = %s ORDER BY recipe_id, meal_type""",
        (user_id,),
    ).fetchall()
    return [(r["recipe_id"], r["meal_type"], r["last_used_date"], r["use_count"]) for r in rows]


def plan_of(db, user_id: int, week: date = WEEK) -> dict:
    row = db.execute(
        "SELECT plan FROM auto_meal_plans WHERE user_id = %s AND week_start = %s", (user_id, week)
    ).fetchone()
    assert row is not None
    return row["plan"]


def meals(plan: dict) -> list[tuple[str, str, str]]:
    return [(d["date"], m["meal_type"], m["recipe_id"]) for d in plan["days"] for m in d["meals"]]


def standard_catalog(db) -> None:
    """8 breakfasts, 7 lunches (one of them 'x', also a dinner), 10 dinners."""
    for i in range(1, 9):
        add_recipe(db, f"b{i:02d}", ["breakfast"], 300 + 25 * i, 10 + i, 40 + 3 * i, 8 + i)
    for i in range(1, 7):
        add_recipe(db, f"l{i:02d}", ["lunch"], 450 + 30 * i, 20 + 2 * i, 50 + 2 * i, 12 + i)
    add_recipe(db, "x", ["lunch", "dinner"], 700, 45, 70, 25)
    for i in range(1, 11):
        add_recipe(db, f"d{i:02d}", ["dinner"], 500 + 35 * i, 25 + 2 * i, 45 + 4 * i, 15 + i)


def planner_user(db, email: str, zone: str = "Europe/Berlin", **prefs) -> int:
    return add_user(db, email, zone, calorie_target=2000, **prefs)


def test_plan_respects_cooldown_per_meal_type_and_never_repeats(db, database):
    standard_catalog(db)
    user = planner_user(db, "a@example.com")
    rotate(db, user, "b01", "breakfast", WEEK - timedelta(days=3))  # on cooldown
    rotate(db, user, "b02", "breakfast", WEEK - timedelta(days=40))  # cooled down
    rotate(db, user, "x", "dinner", WEEK - timedelta(days=5))  # on cooldown for dinner only

    out = weekly_generation(make_ctx(database, "weekly_generation", user, FRIDAY_6_BERLIN))

    assert out["created"] is True and out["week_start"] == "2026-03-09"
    assert out["meals"] == 21 and out["distinct_recipes"] == 21
    assert out["relaxations"] == [] and out["unfilled"] == []
    picked = meals(plan_of(db, user))
    assert [d for d, _, _ in picked][::3] == [
        (WEEK + timedelta(days=i)).isoformat() for i in range(7)
    ]
    breakfasts = {r for _, m, r in picked if m == "breakfast"}
    assert breakfasts == {f"b{i:02d}" for i in range(2, 9)}  # all but b01
    assert ("lunch", "x") in {(m, r) for _, m, r in picked}  # x is only blocked at dinner
    assert ("dinner", "x") not in {(m, r) for _, m, r in picked}
    # Per-day distance from target is reported for every day.
    assert len(out["days"]) == 7
    assert all(isinstance(d["distance_pct"], float) for d in out["days"])
    assert set(out["days"][0]["percent_off"]) == {"calories", "protein_g", "carbs_g", "fat_g"}


def test_rotation_written_for_every_pick_and_retry_does_not_double_count(db, database):
    standard_catalog(db)
    user = planner_user(db, "a@example.com")
    rotate(db, user, "b02", "breakfast", WEEK - timedelta(days=40))
    ctx = make_ctx(database, "weekly_generation", user, FRIDAY_6_BERLIN)

    first = weekly_generation(ctx)
    picked = meals(plan_of(db, user))
    after_first = rotation(db, user)
    assert len(after_first) == 21
    by_key = {(r, m): (d, n) for r, m, d, n in after_first}
    for day, meal, recipe in picked:
        used, count = by_key[(recipe, meal)]
        assert used == date.fromisoformat(day)
        assert count == (2 if recipe == "b02" else 1)

    second = weekly_generation(ctx)
    assert second["created"] is False and "already exists" in second["reason"]
    assert second["plan_id"] == first["plan_id"]
    assert second["meals"] == 21
    assert rotation(db, user) == after_first
    assert db.execute("SELECT count(*) AS n FROM auto_meal_plans").fetchone()["n"] == 1


def test_same_inputs_give_the_same_plan(db, database):
    standard_catalog(db)
    users = [planner_user(db, f"{n}@example.com") for n in ("a", "b")]
    for user in users:
        rotate(db, user, "d03", "dinner", WEEK - timedelta(days=2))
        weekly_generation(make_ctx(database, "weekly_generation", user, FRIDAY_6_BERLIN))
    first, second = (plan_of(db, u) for u in users)
    assert first["days"] == second["days"]
    assert first["method"] == METHOD


def test_tiny_catalog_relaxes_cooldown_least_recently_used_first(db, database):
    for rid, kcal in (("t1", 400), ("t2", 450), ("t3", 500)):
        add_recipe(db, rid, ["breakfast"], kcal, 20, 50, 12)
    user = planner_user(db, "a@example.com", meal_types=["breakfast"])
    rotate(db, user, "t2", "breakfast", WEEK - timedelta(days=2))
    rotate(db, user, "t3", "breakfast", WEEK - timedelta(days=10))  # used longer ago

    out = weekly_generation(make_ctx(database, "weekly_generation", user, FRIDAY_6_BERLIN))

    picked = [r for _, _, r in meals(plan_of(db, user))]
    assert picked[:3] == ["t1", "t3", "t2"]  # free one, then LRU, then the most recent
    reasons = [(r["date"], r["recipe_id"], r["reason"]) for r in out["relaxations"]]
    assert reasons[:2] == [("2026-03-10", "t3", "cooldown"), ("2026-03-11", "t2", "cooldown")]
    assert out["relaxations"][0]["last_used"] == (WEEK - timedelta(days=10)).isoformat()
    assert [r for _, _, r in reasons[2:]] == ["repeat"] * 4
    assert any("off cooldown early" in n for n in out["notes"])
    assert any("repeat" in n for n in out["notes"])
    counts = {r: n for r, _, _, n in rotation(db, user)}
    assert sum(counts.values()) - 2 == 7  # 7 picks on top of the 2 earlier uses


def test_cooldown_days_parameter_overrides_the_preference(db, database):
    for rid in ("t1", "t2"):
        add_recipe(db, rid, ["breakfast"], 400, 20, 50, 12)
    user = planner_user(db, "a@example.com", meal_types=["breakfast"], cooldown_days=30)
    rotate(db, user, "t2", "breakfast", WEEK - timedelta(days=5))
    ctx = make_ctx(
        database, "weekly_generation", user, FRIDAY_6_BERLIN, parameters={"cooldown_days": 3}
    )
    out = weekly_generation(ctx)
    assert out["cooldown_days"] == 3
    assert not [r for r in out["relaxations"] if r["reason"] == "cooldown"]


def test_failure_after_the_rotation_calls_leaves_neither_rotation_nor_plan(db, database):
    standard_catalog(db)
    user = planner_user(db, "a@example.com")
    db.execute("""
        CREATE FUNCTION test_refuse_plan() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'plan write refused by test'; END; $$;
        CREATE TRIGGER test_refuse_plan BEFORE INSERT ON auto_meal_plans
            FOR EACH ROW EXECUTE FUNCTION test_refuse_plan();
    """)
    ctx = make_ctx(database, "weekly_generation", user, FRIDAY_6_BERLIN)
    with pytest.raises(DatabaseError, match="plan write refused by test"):
        weekly_generation(ctx)
    assert rotation(db, user) == []
    assert db.execute("SELECT count(*) AS n FROM auto_meal_plans").fetchone()["n"] == 0

    db.execute("DROP TRIGGER test_refuse_plan ON auto_meal_plans")
    assert weekly_generation(ctx)["created"] is True
    assert {n for *_, n in rotation(db, user)} == {1}


def test_next_week_is_the_monday_after_in_the_users_zone(db, database):
    standard_catalog(db)
    berlin = planner_user(db, "berlin@example.com", "Europe/Berlin")
    tokyo = planner_user(db, "tokyo@example.com", "Asia/Tokyo")
    sunday_evening_utc = utc("2026-03-08 20:00")  # Sunday 21:00 Berlin, Monday 05:00 Tokyo
    out_b = weekly_generation(make_ctx(database, "weekly_generation", berlin, sunday_evening_utc))
    out_t = weekly_generation(make_ctx(database, "weekly_generation", tokyo, sunday_evening_utc))
    assert out_b["week_start"] == "2026-03-09"
    assert out_t["week_start"] == "2026-03-16"


def test_a_late_retry_plans_the_week_of_its_occurrence(db, database):
    standard_catalog(db)
    user = planner_user(db, "a@example.com")
    job_id = f"weekly_generation:user:{user}"
    db.execute(
        "UPDATE scheduled_jobs SET scheduled_for = %s, occurrence_at = %s WHERE id = %s",
        (FRIDAY_6_BERLIN, FRIDAY_6_BERLIN, job_id),
    )
    late = utc("2026-03-09 01:00")  # the retry runs on Monday
    ctx = make_ctx(database, "weekly_generation", user, late, trigger_type="retry", job_id=job_id)
    assert weekly_generation(ctx)["week_start"] == "2026-03-09"
    manual = make_ctx(database, "weekly_generation", user, late, trigger_type="manual")
    assert weekly_generation(manual)["week_start"] == "2026-03-16"


def test_cooldown_counts_back_from_the_plans_monday_whatever_the_run_day(db, database) -> None:
    # A week further ahead than the cooldown: the old query clamped its window
    # and counted from today instead of from the plan's Monday.
    user = add_user(db, "cool@example.com", "UTC")
    monday = db.execute(
        "SELECT (current_date + 14 - extract(isodow FROM current_date)::int + 1) AS d"
    ).fetchone()["d"]
    for recipe, days_before in (("free", 3), ("cooling", 2)):
        db.execute(
            "SELECT update_recipe_rotation(%s, %s, 'breakfast', %s::date)",
            (user, recipe, monday - timedelta(days=days_before)),
        )
    rows = database.many(
        "recipes_on_cooldown_for_week",
        user_id=user,
        meal_type="breakfast",
        cooldown_days=3,
        week_start=monday,
    )
    assert [r["recipe_id"] for r in rows] == ["cooling"]
