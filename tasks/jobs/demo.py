"""``seed_demo(db)``: a small, believable world for ``python -m tasks dev --demo``.

Three users in three zones (Berlin, New York, Tokyo) who opted in to the
advisor email and weekly trends, a 40-recipe catalog across the meal types
(nutrition per serving), and 13 days of food log plus today's breakfast and
lunch for each, so every job has something to work on at once. Idempotent:
users are keyed by email, recipes by id, log entries by (user, source,
source_id); a second run changes nothing new. Deterministic: no randomness.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tasks.db import Database
from tasks.jobs.common import database_now

DEMO_USERS: tuple[dict[str, Any], ...] = (
    {
        "email": "ada@example.com",
        "timezone": "Europe/Berlin",
        "calorie_target": 2000,
        "protein_g_target": 110,
        "meal_types": ["breakfast", "lunch", "dinner"],
        "cooldown_days": 30,
        # Today so far, when the advisor runs: each user has a different day,
        # so each gets a different verdict and different suggestions.
        "today": (("breakfast", "lunch", "dinner", "snack"), 1.5),  # a big day: over
    },
    {
        "email": "ben@example.com",
        "timezone": "America/New_York",
        "calorie_target": 2600,
        "protein_g_target": None,
        "meal_types": ["breakfast", "lunch", "dinner", "snack"],
        "cooldown_days": 30,
        "today": (("breakfast", "lunch"), 0.75),  # a light day: under on everything
    },
    {
        "email": "chika@example.com",
        "timezone": "Asia/Tokyo",
        "calorie_target": 1500,
        "protein_g_target": 75,
        "meal_types": ["breakfast", "lunch", "dinner"],
        "cooldown_days": 21,
        "today": (("breakfast", "lunch", "dinner"), 1.0),  # about on target
    },
)

# (slug, name, meal types, kcal, protein g, carbs g, fat g) per serving.
DEMO_RECIPES: tuple[tuple[str, str, tuple[str, ...], int, int, int, int], ...] = (
    ("overnight-oats", "Overnight oats with berries", ("breakfast",), 420, 15, 65, 11),
    ("yogurt-bowl", "Greek yogurt bowl", ("breakfast",), 350, 25, 40, 9),
    ("veggie-omelette", "Veggie omelette", ("breakfast",), 380, 26, 8, 27),
    ("avocado-toast", "Avocado toast with egg", ("breakfast",), 450, 18, 38, 26),
    ("banana-pancakes", "Banana pancakes", ("breakfast",), 520, 16, 80, 14),
    ("chia-pudding", "Chia pudding", ("breakfast",), 330, 10, 35, 17),
    ("salmon-bagel", "Smoked salmon bagel", ("breakfast",), 480, 28, 55, 15),
    ("tofu-scramble", "Tofu scramble", ("breakfast",), 310, 22, 12, 19),
    ("muesli", "Muesli with milk", ("breakfast",), 400, 14, 62, 10),
    ("shakshuka", "Shakshuka", ("breakfast",), 360, 20, 22, 21),
    ("caesar-salad", "Chicken caesar salad", ("lunch",), 520, 38, 18, 32),
    ("lentil-soup", "Lentil soup", ("lunch",), 410, 22, 58, 8),
    ("quinoa-bowl", "Quinoa bowl", ("lunch",), 560, 20, 72, 20),
    ("tuna-sandwich", "Tuna sandwich", ("lunch",), 480, 32, 45, 18),
    ("falafel-wrap", "Falafel wrap", ("lunch",), 610, 20, 70, 27),
    ("burrito-bowl", "Chicken burrito bowl", ("lunch",), 650, 42, 70, 18),
    ("caprese-sandwich", "Caprese sandwich", ("lunch",), 540, 22, 52, 26),
    ("minestrone", "Minestrone", ("lunch",), 330, 12, 50, 8),
    ("poke-bowl", "Salmon poke bowl", ("lunch",), 590, 34, 68, 17),
    ("greek-salad", "Greek salad with feta", ("lunch",), 420, 14, 18, 32),
    ("turkey-club", "Turkey club sandwich", ("lunch",), 560, 38, 44, 24),
    ("salmon-veg", "Salmon with roasted vegetables", ("dinner",), 620, 42, 30, 36),
    ("bolognese", "Spaghetti bolognese", ("dinner",), 720, 36, 85, 24),
    ("chicken-stir-fry", "Chicken stir-fry", ("dinner",), 560, 40, 55, 16),
    ("veg-curry", "Vegetable curry with rice", ("dinner",), 640, 16, 98, 20),
    ("beef-tacos", "Beef tacos", ("dinner",), 680, 34, 58, 32),
    ("baked-cod", "Baked cod with potatoes", ("dinner",), 520, 38, 55, 12),
    ("mushroom-risotto", "Mushroom risotto", ("dinner",), 610, 14, 88, 20),
    ("chili", "Chili con carne", ("dinner",), 590, 38, 52, 24),
    ("pad-thai", "Tofu pad thai", ("dinner",), 650, 24, 84, 22),
    ("roast-chicken", "Roast chicken with quinoa", ("dinner",), 600, 46, 48, 22),
    ("chickpea-stew", "Chickpea and spinach stew", ("lunch", "dinner"), 500, 20, 68, 14),
    ("halloumi-salad", "Grilled halloumi salad", ("lunch", "dinner"), 530, 24, 22, 38),
    ("apple-pb", "Apple with peanut butter", ("snack",), 270, 7, 30, 16),
    ("hummus-carrots", "Hummus and carrots", ("snack",), 220, 7, 24, 11),
    ("protein-shake", "Protein shake", ("snack",), 200, 30, 10, 4),
    ("trail-mix", "Trail mix", ("snack",), 300, 8, 25, 20),
    ("cottage-pineapple", "Cottage cheese with pineapple", ("snack",), 190, 20, 18, 4),
    ("rice-cakes", "Rice cakes with almond butter", ("snack",), 230, 6, 26, 12),
    ("edamame", "Salted edamame", ("snack",), 190, 17, 14, 8),
)

# Portion sizes cycle through these, so days differ without randomness.
PORTIONS = (1.0, 1.2, 0.8, 1.1, 0.9, 1.3, 1.0)
HISTORY_DAYS = 13


def seed_demo(db: Database) -> dict[str, Any]:
    """Seed (or refresh) the demo users, catalog and food log; return what is there."""
    with db.transaction() as tx:
        for slug, name, meals, kcal, protein, carbs, fat in DEMO_RECIPES:
            tx.exec(
                "upsert_recipe",
                id=f"demo:{slug}",
                name=name,
                meal_types=list(meals),
                calories=kcal,
                protein_g=protein,
                carbs_g=carbs,
                fat_g=fat,
                source="demo",
                source_id=slug,
            )
        now = database_now(tx)
        users: list[dict[str, Any]] = []
        entries = 0
        for index, spec in enumerate(DEMO_USERS):
            row = tx.one("demo_upsert_user", email=spec["email"], timezone=spec["timezone"])
            assert row is not None
            user_id = int(row["id"])
            tx.exec(
                "demo_upsert_preferences",
                user_id=user_id,
                calorie_target=spec["calorie_target"],
                protein_g_target=spec["protein_g_target"],
                meal_types=spec["meal_types"],
                cooldown_days=spec["cooldown_days"],
            )
            context = tx.one("user_planning_context", user_id=user_id, at=now)
            assert context is not None
            today = context["local_date"]
            first = today - timedelta(days=HISTORY_DAYS)
            log = _food_log(index, spec["meal_types"], spec["today"], first, today)
            tx.exec(
                "upsert_food_entries",
                user_id=user_id,
                source="demo",
                source_ids=[e["source_id"] for e in log],
                days=[e["day"] for e in log],
                meal_types=[e["meal_type"] for e in log],
                descriptions=[e["description"] for e in log],
                recipe_ids=[e["recipe_id"] for e in log],
                calories=[e["calories"] for e in log],
                protein_g=[e["protein_g"] for e in log],
                carbs_g=[e["carbs_g"] for e in log],
                fat_g=[e["fat_g"] for e in log],
            )
            entries += len(log)
            users.append({"id": user_id, "email": spec["email"], "timezone": spec["timezone"]})
        jobs = tx.one("count_user_jobs", user_ids=[u["id"] for u in users])
    return {
        "users": users,
        "recipes": len(DEMO_RECIPES),
        "food_log_entries": entries,
        "user_jobs": int(jobs["n"]) if jobs else 0,
    }


def _food_log(
    user_index: int,
    meal_types: list[str],
    today_spec: tuple[tuple[str, ...], float],
    first: Any,
    today: Any,
) -> list[dict[str, Any]]:
    by_meal = {
        m: [r for r in DEMO_RECIPES if m in r[2]] for m in ("breakfast", "lunch", "dinner", "snack")
    }
    log = []
    day = first
    step = 0
    while day <= today:
        meals = meal_types if day < today else list(today_spec[0])
        for meal_index, meal in enumerate(meals):
            options = by_meal[meal]
            slug, name, _, kcal, protein, carbs, fat = options[
                (step * 3 + meal_index + user_index * 5) % len(options)
            ]
            portion = PORTIONS[(step + meal_index + user_index) % len(PORTIONS)]
            if day == today:
                portion = today_spec[1]
            log.append(
                {
                    "source_id": f"{day.isoformat()}:{meal}",
                    "day": day,
                    "meal_type": meal,
                    "description": name if portion == 1.0 else f"{name} (x{portion:g})",
                    "recipe_id": f"demo:{slug}",
                    "calories": round(kcal * portion, 1),
                    "protein_g": round(protein * portion, 1),
                    "carbs_g": round(carbs * portion, 1),
                    "fat_g": round(fat * portion, 1),
                }
            )
        day += timedelta(days=1)
        step += 1
    return log


#: What ``python -m tasks dev --demo`` runs for every demo user.
DEMO_JOB_TYPES = ("weekly_generation", "daily_advisor", "weekly_trends")


def trigger_demo_jobs(db: Database, users: list[dict[str, Any]]) -> list[str]:
    """Run each demo user's jobs now; return their ids."""
    job_ids = [f"{job_type}:user:{u['id']}" for u in users for job_type in DEMO_JOB_TYPES]
    for job_id in job_ids:
        db.exec("demo_trigger_job", job_id=job_id)
    return job_ids


def finished_runs(db: Database, job_ids: list[str]) -> list[dict[str, Any]]:
    return db.many("demo_finished_runs", job_ids=job_ids)


def describe_run(run: dict[str, Any]) -> str:
    """One paragraph a person can read in the terminal."""
    head = f"{run['job_id']}: {run['status']}"
    if run["status"] != "completed":
        return f"{head}: {run['error_message']}"
    out = run["output"] or {}
    if run["job_type"] == "weekly_generation":
        days = out.get("days") or []
        off = [d["distance_pct"] for d in days if d.get("distance_pct") is not None]
        worst = f", worst day {max(off)}% from target" if off else ""
        return (
            f"{head}: plan for the week of {out.get('week_start')}: {out.get('meals')} meals, "
            f"{out.get('distinct_recipes')} recipes{worst}"
        )
    if run["job_type"] == "daily_advisor":
        email = out.get("email") or {}
        text = email.get("text") or out.get("reason") or ""
        return f"{head}: {email.get('subject', 'advisor email')}\n{text}".rstrip()
    if run["job_type"] == "weekly_trends":
        return f"{head}: {_trend_summary(out)}"
    return head


def _trend_summary(out: dict[str, Any]) -> str:
    """The report's numbers in one line: this week's averages and the change."""
    if not out.get("stored", "report_id" in out):
        return f"no report: {out.get('reason', 'nothing stored')}"
    current = (out.get("current") or {}).get("average") or {}
    change = out.get("change") or {}
    parts = []
    for key, unit in (("calories", "kcal"), ("protein_g", "g protein")):
        value = current.get(key)
        if value is None:
            continue
        moved = change.get(key) or {}
        pct = moved.get("pct")
        versus = "" if pct is None else f" ({pct:+g}% vs the week before)"
        parts.append(f"{value:.0f} {unit}/day{versus}")
    days = (out.get("current") or {}).get("days_logged")
    averages = "; ".join(parts) or "no days logged"
    return (
        f"trend report for the week to {out.get('period_end')}: {averages}; "
        f"{days} days logged; chart {out.get('chart_bytes', 0)} bytes"
    )
