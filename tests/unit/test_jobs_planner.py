"""The plan-fitting method, without a database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tasks.jobs.nutrition import Nutrients, distance, meal_shares, targets_from_preferences
from tasks.jobs.planner import PORTIONS, Recipe, plan_week

MONDAY = date(2026, 3, 9)
TARGET = Nutrients(2000, 100, 250, 66.7)


def recipe(rid: str, meals: str, kcal: float, p: float, c: float, f: float) -> Recipe:
    return Recipe(rid, rid, frozenset(meals.split(",")), Nutrients(kcal, p, c, f))


def catalog(n: int = 10) -> list[Recipe]:
    out = []
    for i in range(n):
        out.append(recipe(f"b{i}", "breakfast", 380 + 20 * i, 18 + i, 50 + 2 * i, 12))
        out.append(recipe(f"l{i}", "lunch", 560 + 25 * i, 30 + i, 70, 18 + i))
        out.append(recipe(f"d{i}", "dinner", 650 + 30 * i, 40, 80 + i, 22 + i))
    return out


def test_defaults_and_shares():
    assert targets_from_preferences(None) == Nutrients(2000, 100, 250, 2000 * 0.3 / 9)
    assert (
        targets_from_preferences({"calorie_target": 1800, "protein_g_target": 120}).protein_g == 120
    )
    shares = meal_shares(["dinner", "lunch"])
    assert list(shares) == ["lunch", "dinner"]
    assert abs(shares["lunch"] - 0.35 / 0.75) < 1e-12


def test_a_full_week_without_repeats_close_to_target():
    plan = plan_week(catalog(), ["breakfast", "lunch", "dinner"], TARGET, {}, MONDAY)
    ids = [p.recipe.id for p in plan.picks]
    assert len(ids) == 21 and len(set(ids)) == 21
    assert [d.day for d in plan.days] == [MONDAY + timedelta(days=i) for i in range(7)]
    assert all(
        [p.meal_type for p in d.picks] == ["breakfast", "lunch", "dinner"] for d in plan.days
    )
    assert all(p.servings in PORTIONS for p in plan.picks)
    assert max(d.distance for d in plan.days) < 0.1
    assert plan.relaxations == [] and plan.unfilled == ()


def test_deterministic_and_independent_of_catalog_order():
    meals = ["breakfast", "lunch", "dinner"]
    a = plan_week(catalog(), meals, TARGET, {}, MONDAY).to_json()
    b = plan_week(list(reversed(catalog())), meals, TARGET, {}, MONDAY).to_json()
    assert a == b


def test_ties_go_to_the_smallest_id():
    same = [recipe(rid, "dinner", 500, 30, 50, 20) for rid in ("z", "a", "m")]
    plan = plan_week(same, ["dinner"], TARGET, {}, MONDAY, days=3)
    assert [p.recipe.id for p in plan.picks] == ["a", "m", "z"]


def test_cooldown_is_per_meal_type():
    recipes = [recipe("x", "lunch,dinner", 700, 40, 80, 20)] + [
        recipe(f"d{i}", "dinner", 600, 35, 70, 20) for i in range(7)
    ]
    cooldowns = {"dinner": {"x": MONDAY - timedelta(days=3)}}
    plan = plan_week(recipes, ["lunch", "dinner"], TARGET, cooldowns, MONDAY, days=1)
    assert [(p.meal_type, p.recipe.id) for p in plan.picks] == [("lunch", "x"), ("dinner", "d0")]


def test_relaxation_order_cooldown_lru_then_repeats_then_unfilled():
    recipes = [recipe(r, "breakfast", 450, 20, 60, 12) for r in ("t1", "t2", "t3")]
    cooldowns = {"breakfast": {"t2": MONDAY - timedelta(days=1), "t3": MONDAY - timedelta(days=20)}}
    plan = plan_week(recipes, ["breakfast", "snack"], TARGET, cooldowns, MONDAY, days=5)
    picks = [(p.recipe.id, p.relaxed) for p in plan.picks]
    assert picks[:3] == [("t1", None), ("t3", "cooldown"), ("t2", "cooldown")]
    assert [r for _, r in picks[3:]] == ["repeat", "repeat"]
    assert plan.relaxations[0].last_used == MONDAY - timedelta(days=20)
    assert plan.unfilled == tuple((MONDAY + timedelta(days=i), "snack") for i in range(5))
    doc = plan.to_json()
    assert doc["relaxations"][0] == {
        "date": "2026-03-10",
        "meal_type": "breakfast",
        "recipe_id": "t3",
        "reason": "cooldown",
        "last_used": "2026-02-17",
    }
    assert len(doc["unfilled"]) == 5


def test_the_improvement_pass_evens_out_the_week():
    # Greedy alone would spend the two perfect dinners on Monday and Tuesday.
    recipes = [recipe("b", "breakfast", 500, 25, 62, 17)]
    recipes += [recipe(f"d{i}", "dinner", 800 + 200 * i, 40, 100, 27) for i in range(4)]
    plan = plan_week(
        recipes, ["breakfast", "dinner"], Nutrients(1500, 75, 187, 50), {}, MONDAY, days=2
    )
    spread = [d.distance for d in plan.days]
    assert max(spread) - min(spread) < 0.2
    # Monday: 1.5 breakfasts + d0 = 1550 kcal, 77.5 g protein, 193 g carbs, 52.5 g fat;
    # relative errors 50/1500, 2.5/75, 6/187, 2.5/50; their RMS, worked out by hand.
    assert plan.days[0].totals == Nutrients(1550, 77.5, 193, 52.5)
    assert plan.days[0].distance == pytest.approx(0.037920, abs=1e-6)


def test_distance_is_the_rms_of_the_relative_errors():
    target = Nutrients(2000, 100, 250, 50)
    assert distance(target, target) == 0.0
    # 10% over on calories alone: sqrt(0.1^2 / 4) = 0.05.
    assert distance(Nutrients(2200, 100, 250, 50), target) == pytest.approx(0.05)
    # 10% under on calories, 20% over on protein: sqrt((0.01 + 0.04) / 4).
    assert distance(Nutrients(1800, 120, 250, 50), target) == pytest.approx(0.1118034)
