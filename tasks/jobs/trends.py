"""``weekly_trends`` (Thursday 20:00 in the user's zone): this week vs last.

The period is the 7 local days ending on the run's local date (or
``parameters.period_end``), compared with the 7 days before. For each:

* days logged; average calories, protein, carbs and fat per logged day;
  days within 10% of the calorie target;
* adherence to the plan (``auto_meal_plans``): of the meals planned for the
  period, how many were eaten, a planned meal counting as eaten when the
  same day and meal type has a food_log entry with that recipe_id or whose
  description contains the recipe's name (case-insensitive); and calories
  eaten vs planned on the days that had a plan.

Writes ``weekly_trend_reports`` (one row per user and period end, replaced
on a re-run: the same inputs give the same row) with the report JSON and a
PNG bar chart of daily calories (:mod:`tasks.jobs.png`). Only for users who
opted in (``user_preferences.weekly_trends``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tasks.handlers import JobContext, job_handler
from tasks.jobs.common import num, param_date, planning_context
from tasks.jobs.nutrition import NUTRIENTS, Nutrients, targets_from_preferences
from tasks.jobs.png import CHART_LEGEND, week_chart

TOLERANCE = 0.10


@dataclass(frozen=True)
class Planned:
    day: date
    meal_type: str
    recipe_id: str | None
    name: str
    calories: float


@dataclass(frozen=True)
class Logged:
    day: date
    meal_type: str
    recipe_id: str | None
    description: str


def matches(plan: Planned, entry: Logged) -> bool:
    if plan.day != entry.day or plan.meal_type != entry.meal_type:
        return False
    if plan.recipe_id and entry.recipe_id == plan.recipe_id:
        return True
    name = plan.name.strip().lower()
    return bool(name) and name in entry.description.lower()


def adherence(planned: Sequence[Planned], logged: Sequence[Logged]) -> tuple[int, int]:
    """(planned meals, eaten as planned); each log entry counts for one meal at most."""
    used: set[int] = set()
    eaten = 0
    for plan in planned:
        for i, entry in enumerate(logged):
            if i not in used and matches(plan, entry):
                used.add(i)
                eaten += 1
                break
    return len(planned), eaten


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def period_stats(
    days: Sequence[date],
    totals: Mapping[date, Nutrients],
    target: Nutrients,
    planned: Sequence[Planned],
    logged: Sequence[Logged],
) -> dict[str, Any]:
    in_days = set(days)
    logged_days = [d for d in days if d in totals]
    n = len(logged_days)
    averages = {
        k: (round(sum(totals[d].get(k) for d in logged_days) / n, 1) if n else None)
        for k in NUTRIENTS
    }
    on_target = sum(
        1
        for d in logged_days
        if target.calories
        and abs(totals[d].calories - target.calories) <= TOLERANCE * target.calories
    )
    plan_here = [p for p in planned if p.day in in_days]
    count, eaten = adherence(plan_here, [e for e in logged if e.day in in_days])
    plan_days = sorted({p.day for p in plan_here})
    planned_kcal = sum(p.calories for p in plan_here)
    eaten_kcal_on_plan_days = sum(totals[d].calories for d in plan_days if d in totals)
    return {
        "start": days[0].isoformat(),
        "end": days[-1].isoformat(),
        "days_logged": n,
        "average": averages,
        "days_on_calorie_target": on_target,
        "plan": {
            "planned_meals": count,
            "eaten_as_planned": eaten,
            "adherence_pct": _pct(eaten, count),
            "planned_calories": round(planned_kcal, 1),
            "eaten_calories_on_plan_days": round(eaten_kcal_on_plan_days, 1),
            "calories_vs_plan_pct": _pct(eaten_kcal_on_plan_days, planned_kcal),
        },
    }


def change(current: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in NUTRIENTS:
        a, b = current["average"][k], previous["average"][k]
        out[k] = (
            {"diff": round(a - b, 1), "pct": _pct(a - b, b)}
            if a is not None and b is not None
            else None
        )
    a, b = current["plan"]["adherence_pct"], previous["plan"]["adherence_pct"]
    out["adherence_pct_points"] = round(a - b, 1) if a is not None and b is not None else None
    return out


def build_report(
    period_end: date,
    totals: Mapping[date, Nutrients],
    target: Nutrients,
    planned: Sequence[Planned],
    logged: Sequence[Logged],
) -> tuple[dict[str, Any], bytes]:
    current = [period_end - timedelta(days=6 - i) for i in range(7)]
    previous = [d - timedelta(days=7) for d in current]
    cur = period_stats(current, totals, target, planned, logged)
    prev = period_stats(previous, totals, target, planned, logged)
    daily = [
        {
            "date": d.isoformat(),
            "calories": round(totals[d].calories, 1) if d in totals else None,
            "previous_date": p.isoformat(),
            "previous_calories": round(totals[p].calories, 1) if p in totals else None,
        }
        for d, p in zip(current, previous, strict=True)
    ]
    chart = week_chart(
        [totals[d].calories if d in totals else None for d in current],
        [totals[p].calories if p in totals else None for p in previous],
        target.calories,
    )
    report = {
        "version": 1,
        "period_end": period_end.isoformat(),
        "targets": target.rounded(),
        "current": cur,
        "previous": prev,
        "change": change(cur, prev),
        "daily": daily,
        "chart": {"format": "png", "bytes": len(chart), "legend": CHART_LEGEND},
    }
    return report, chart


@job_handler("weekly_trends")
def weekly_trends(ctx: JobContext) -> dict[str, Any]:
    db, user_id, user = planning_context(ctx)
    if user is None:
        return {"user_id": user_id, "stored": False, "reason": "user does not exist"}
    period_end = param_date(ctx.parameters, "period_end") or user["local_date"]
    out: dict[str, Any] = {"user_id": user_id, "period_end": period_end.isoformat()}
    if not user["weekly_trends"]:
        return {**out, "stored": False, "reason": "user has not opted in to weekly trends"}
    start = period_end - timedelta(days=13)
    totals = {
        r["day"]: Nutrients.from_row(r)
        for r in db.many("food_log_daily_totals", user_id=user_id, start=start, end=period_end)
    }
    planned = [
        Planned(r["day"], r["meal_type"], r["recipe_id"], r["name"] or "", num(r["calories"]))
        for r in db.many("planned_meals_between", user_id=user_id, start=start, end=period_end)
    ]
    logged = [
        Logged(r["day"], r["meal_type"], r["recipe_id"], r["description"])
        for r in db.many("food_log_entries_between", user_id=user_id, start=start, end=period_end)
    ]
    report, chart = build_report(
        period_end, totals, targets_from_preferences(user), planned, logged
    )
    row = db.one(
        "upsert_trend_report",
        user_id=user_id,
        period_start=period_end - timedelta(days=6),
        period_end=period_end,
        report=json.dumps(report),
        chart_png=chart,
    )
    assert row is not None
    return {
        **out,
        "stored": True,
        "report_id": row["id"],
        "current": report["current"],
        "previous": report["previous"],
        "change": report["change"],
        "chart_bytes": len(chart),
    }
