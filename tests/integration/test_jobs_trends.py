"""weekly_trends on a known fortnight: averages, target days, plan adherence, PNG."""

from __future__ import annotations

import json
import struct
import zlib
from datetime import date, timedelta

from tasks.jobs.png import CURRENT, PREVIOUS, TARGET
from tasks.jobs.trends import weekly_trends
from tests.integration.jobs_support import add_recipe, add_user, log_food, make_ctx, utc

THURSDAY_EVENING = utc("2026-03-12 19:00")  # Thursday 20:00 CET
MEALS = [
    ("breakfast", "r-b", "Oat bowl", 400),
    ("lunch", "r-l", "Lentil soup", 600),
    ("dinner", "r-d", "Salmon", 900),
]


def add_plan(db, user: int, week: date) -> None:
    days = [
        {
            "date": (week + timedelta(days=i)).isoformat(),
            "meals": [
                {"meal_type": m, "recipe_id": r, "name": n, "servings": 1, "calories": k}
                for m, r, n, k in MEALS
            ],
        }
        for i in range(7)
    ]
    db.execute(
        "INSERT INTO auto_meal_plans (user_id, week_start, plan) VALUES (%s, %s, %s)",
        (user, week, json.dumps({"version": 1, "days": days})),
    )


def fortnight(db) -> int:
    user = add_user(db, "ada@example.com", "Europe/Berlin", calorie_target=2000, weekly_trends=True)
    for meal, recipe_id, name, kcal in MEALS:
        add_recipe(db, recipe_id, [meal], kcal, name=name)
    add_plan(db, user, date(2026, 3, 2))
    add_plan(db, user, date(2026, 3, 9))
    # The week before: one big 2,300 kcal dinner a day, nothing as planned.
    for i in range(7):
        log_food(
            db,
            user,
            date(2026, 2, 27) + timedelta(days=i),
            "dinner",
            2300,
            100,
            250,
            80,
            "Big meal",
        )
    # This week: 1,900 kcal on six days (none on Sunday 8 March).
    plain = [("breakfast", "Toast"), ("lunch", "Sandwich"), ("dinner", "Pasta")]
    per_meal = {
        "breakfast": (400, 20, 60, 10),
        "lunch": (600, 40, 70, 20),
        "dinner": (900, 60, 70, 30),
    }
    days = {
        date(2026, 3, 6): [(m, d, None) for m, d in plain],
        date(2026, 3, 7): [(m, d, None) for m, d in plain],
        # All three by recipe id.
        date(2026, 3, 9): [
            ("breakfast", "x", "r-b"),
            ("lunch", "y", "r-l"),
            ("dinner", "z", "r-d"),
        ],
        # Two by name (case-insensitive, contained), one not as planned.
        date(2026, 3, 10): [
            ("breakfast", "Oat bowl (x1)", None),
            ("lunch", "lentil SOUP", None),
            ("dinner", "Pizza", None),
        ],
        date(2026, 3, 11): [(m, d, None) for m, d in plain],
        # The planned breakfast, but eaten as lunch: not as planned.
        date(2026, 3, 12): [
            ("breakfast", "Toast", None),
            ("lunch", "Oat bowl", "r-b"),
            ("dinner", "Pasta", None),
        ],
    }
    for day, entries in days.items():
        for meal, description, recipe_id in entries:
            kcal, p, c, f = per_meal[meal]
            log_food(db, user, day, meal, kcal, p, c, f, description, recipe_id)
    return user


def test_trends_on_a_known_fortnight(db, database):
    user = fortnight(db)
    out = weekly_trends(make_ctx(database, "weekly_trends", user, THURSDAY_EVENING))

    assert out["stored"] is True and out["period_end"] == "2026-03-12"
    cur, prev = out["current"], out["previous"]
    assert (cur["start"], cur["end"], prev["start"], prev["end"]) == (
        "2026-03-06",
        "2026-03-12",
        "2026-02-27",
        "2026-03-05",
    )
    assert (cur["days_logged"], prev["days_logged"]) == (6, 7)
    assert cur["average"] == {
        "calories": 1900.0,
        "protein_g": 120.0,
        "carbs_g": 200.0,
        "fat_g": 60.0,
    }
    assert prev["average"] == {
        "calories": 2300.0,
        "protein_g": 100.0,
        "carbs_g": 250.0,
        "fat_g": 80.0,
    }
    assert (cur["days_on_calorie_target"], prev["days_on_calorie_target"]) == (6, 0)
    assert cur["plan"] == {
        "planned_meals": 21,
        "eaten_as_planned": 5,
        "adherence_pct": 23.8,
        "planned_calories": 13300.0,
        "eaten_calories_on_plan_days": 11400.0,
        "calories_vs_plan_pct": 85.7,
    }
    assert prev["plan"]["planned_meals"] == 12 and prev["plan"]["eaten_as_planned"] == 0
    assert prev["plan"]["calories_vs_plan_pct"] == 121.1
    change = out["change"]
    assert change["calories"] == {"diff": -400.0, "pct": -17.4}
    assert change["protein_g"] == {"diff": 20.0, "pct": 20.0}
    assert change["adherence_pct_points"] == 23.8

    row = db.execute("SELECT * FROM weekly_trend_reports").fetchone()
    assert (row["period_start"], row["period_end"]) == (date(2026, 3, 6), date(2026, 3, 12))
    assert row["report"]["daily"][2] == {
        "date": "2026-03-08",
        "calories": None,
        "previous_date": "2026-03-01",
        "previous_calories": 2300.0,
    }
    check_png(bytes(row["chart_png"]))

    again = weekly_trends(make_ctx(database, "weekly_trends", user, THURSDAY_EVENING))
    assert again["report_id"] == out["report_id"]
    assert db.execute("SELECT count(*) AS n FROM weekly_trend_reports").fetchone()["n"] == 1


def check_png(data: bytes) -> None:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF
        chunks[tag] = body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    assert len(raw) == height * (1 + 3 * width)
    pixels = b"".join(
        raw[y * (1 + 3 * width) + 1 : (y + 1) * (1 + 3 * width)] for y in range(height)
    )
    colors = {pixels[i : i + 3] for i in range(0, len(pixels), 3)}
    assert {bytes(CURRENT), bytes(PREVIOUS), bytes(TARGET)} <= colors


def test_not_opted_in_is_skipped(db, database):
    user = add_user(db, "quiet@example.com")
    out = weekly_trends(make_ctx(database, "weekly_trends", user, THURSDAY_EVENING))
    assert out["stored"] is False and "not opted in" in out["reason"]
