"""``weekly_generation``: next week's meal plan for one user.

"Next week" is the Monday after the run's reference time in the user's own
zone (Friday 06:00 Berlin -> the Monday three days later), or
``parameters.week_start`` (a Monday) for a manual run.

Everything happens in one transaction: under a per-(user, week) advisory
lock, an existing plan for the week is returned untouched (a retry never
counts a recipe twice in ``recipe_rotation``); otherwise the plan is fitted
(see :mod:`tasks.jobs.planner`), ``update_recipe_rotation`` is called for
every pick with the day it is planned for, and the plan row is written
last. A failure anywhere leaves neither rotation nor plan behind.

Cooldown: ``parameters.cooldown_days``, else the user's preference, else 30.
It is counted back from the plan's Monday (a recipe last eaten 29 days before
that Monday is still on cooldown; one eaten 30 days before is not), so the
same inputs give the same plan whichever day the job happens to run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from tasks.db import Database, Session
from tasks.errors import HandlerError
from tasks.handlers import JobContext, job_handler
from tasks.jobs.common import (
    job_user_id,
    param_date,
    param_int,
    reference_time,
    require_db,
)
from tasks.jobs.nutrition import MEAL_ORDER, Nutrients, targets_from_preferences
from tasks.jobs.planner import METHOD, Recipe, WeekPlan, plan_week

DEFAULT_COOLDOWN_DAYS = 30
DEFAULT_MEAL_TYPES: tuple[str, ...] = ("breakfast", "lunch", "dinner")


def next_monday(local_day: date) -> date:
    """The Monday strictly after ``local_day``."""
    return local_day + timedelta(days=7 - local_day.weekday())


def load_catalog(session: Database | Session) -> tuple[list[Recipe], int]:
    """Live recipes with nutrition, and how many live ones had none."""
    recipes, skipped = [], 0
    for row in session.many("plannable_recipes"):
        if row["calories"] is None or not row["meal_types"]:
            skipped += 1
            continue
        recipes.append(
            Recipe(
                id=row["id"],
                name=row["name"],
                meal_types=frozenset(row["meal_types"]),
                nutrients=Nutrients.from_row(row),
            )
        )
    return recipes, skipped


def load_cooldowns(
    session: Session, user_id: int, meal_types: tuple[str, ...], days: int, week_start: date
) -> dict[str, dict[str, date]]:
    if days == 0:
        return {m: {} for m in meal_types}
    return {
        meal: {
            r["recipe_id"]: r["last_used_date"]
            for r in session.many(
                "recipes_on_cooldown_for_week",
                user_id=user_id,
                meal_type=meal,
                cooldown_days=days,
                week_start=week_start,
            )
        }
        for meal in meal_types
    }


def summarize(plan: Mapping[str, Any]) -> dict[str, Any]:
    """The execution output for a plan document (new or found)."""
    days = plan.get("days") or []
    meals = [m for d in days for m in d.get("meals", [])]
    relaxations = plan.get("relaxations") or []
    notes = []
    cooldown = [r for r in relaxations if r.get("reason") == "cooldown"]
    repeats = [r for r in relaxations if r.get("reason") == "repeat"]
    if cooldown:
        notes.append(
            f"catalog too small: {len(cooldown)} recipe(s) taken off cooldown early, "
            "least recently used first"
        )
    if repeats:
        notes.append(f"catalog too small: {len(repeats)} meal(s) repeat a recipe within the week")
    if plan.get("unfilled"):
        notes.append(f"{len(plan['unfilled'])} slot(s) unfilled: no recipe for that meal type")
    return {
        "week_start": plan.get("week_start"),
        "method": plan.get("method"),
        "meals": len(meals),
        "distinct_recipes": len({m.get("recipe_id") for m in meals}),
        "days": [
            {
                "date": d.get("date"),
                "calories": (d.get("totals") or {}).get("calories"),
                "distance_pct": d.get("distance_pct"),
                "percent_off": d.get("percent_off"),
            }
            for d in days
        ],
        "relaxations": relaxations,
        "unfilled": plan.get("unfilled") or [],
        "notes": notes,
    }


@job_handler("weekly_generation")
def weekly_generation(ctx: JobContext) -> dict[str, Any]:
    db = require_db(ctx)
    user_id = job_user_id(ctx)
    at = reference_time(ctx, db)
    with db.transaction() as tx:
        user = tx.one("user_planning_context", user_id=user_id, at=at)
        if user is None:
            return {"user_id": user_id, "created": False, "reason": "user does not exist"}
        week_start = param_date(ctx.parameters, "week_start") or next_monday(user["local_date"])
        if week_start.weekday() != 0:
            raise HandlerError(f"parameters.week_start must be a Monday, got {week_start}")
        base = {"user_id": user_id, "week_start": week_start.isoformat()}

        tx.exec("lock_user_week", key=f"weekly_generation:{user_id}:{week_start.isoformat()}")
        existing = tx.one("meal_plan_for_week", user_id=user_id, week_start=week_start)
        if existing is not None:
            return {
                **base,
                "created": False,
                "plan_id": existing["id"],
                "reason": "a plan for this week already exists; returned as is",
                **summarize(existing["plan"]),
            }

        cooldown_days = param_int(
            ctx.parameters,
            "cooldown_days",
            user["cooldown_days"] if user["cooldown_days"] is not None else DEFAULT_COOLDOWN_DAYS,
            0,
            365,
        )
        chosen = set(user["meal_types"] or DEFAULT_MEAL_TYPES)
        meal_types = tuple(m for m in MEAL_ORDER if m in chosen)
        catalog, skipped = load_catalog(tx)
        cooldowns = load_cooldowns(tx, user_id, meal_types, cooldown_days, week_start)
        plan: WeekPlan = plan_week(
            catalog, meal_types, targets_from_preferences(user), cooldowns, week_start
        )
        picks = plan.picks
        if picks:
            tx.exec(
                "record_recipe_uses",
                user_id=user_id,
                recipe_ids=[p.recipe.id for p in picks],
                meal_types=[p.meal_type for p in picks],
                used_dates=[p.day for p in picks],
            )
        document = {
            **plan.to_json(),
            "timezone": user["timezone"],
            "cooldown_days": cooldown_days,
        }
        row = tx.one(
            "insert_meal_plan", user_id=user_id, week_start=week_start, plan=json.dumps(document)
        )
        assert row is not None
    summary = summarize(document)
    if skipped:
        summary["notes"].append(f"{skipped} catalog recipe(s) skipped: no calories or meal type")
    return {
        **base,
        "created": True,
        "plan_id": row["id"],
        "method": METHOD,
        "cooldown_days": cooldown_days,
        "catalog_size": len(catalog),
        **summary,
    }
