"""Fitting a week of meals to a user's targets: pure, deterministic, explainable.

Method: a greedy pass builds the week, then a local-improvement pass evens
it out.

Greedy construction:

* A day's target is split over the planned meal types by fixed shares
  (breakfast 25%, lunch 35%, dinner 40%, snack 10%, renormalised over the
  meal types the user plans), so after each slot there is a pro-rated goal:
  the day's target times the shares filled so far.
* Slots are filled day by day, meal by meal (breakfast, lunch, dinner,
  snack). For each slot the pick is the recipe, and the portion of it
  (``PORTIONS``: 0.75, 1, 1.25 or 1.5 servings, so a 2,600 kcal day can be
  met from a catalog of 500 kcal recipes), that minimises the squared
  relative error of the day's running totals against that pro-rated goal,
  summed over calories, protein, carbs and fat (each ``(total - goal) /
  goal``, equal weights). A lunch therefore makes up for a light breakfast,
  and the last slot of the day closes the day's gap as well as the catalog
  allows. Ties go to the smallest recipe id, then to the portion nearest
  one serving, so the same inputs always give the same plan.
* Candidates for a slot: recipes tagged with that meal type, not on cooldown
  for that meal type, not yet used anywhere in the week.
* When none is left the catalog is too small, and the rules are relaxed in
  this order, each use reported: (1) "cooldown": the on-cooldown recipe used
  least recently (oldest last use, then id) is released and taken;
  (2) "repeat": every recipe of that meal type is already in the week, so the
  least-placed ones are candidates again (best fit among them). A meal type
  with no recipe at all leaves the slot unfilled.

Improvement (the greedy pass spends the best-fitting recipes early in the
week, so later days drift): repeat until nothing changes, at most
``MAX_ROUNDS`` rounds, trying in a fixed order (slot order, then recipe
id) and taking every change that lowers the week's error, the sum over days
of the full day's squared relative error against the day's target:

* swap the recipes (with their portions) of two slots of the same meal type
  on different days;
* replace a slot's recipe with an unused one that is allowed there (tagged
  with the meal type, not on cooldown for it, not in the week yet), at any
  portion, or change the portion of the slot's recipe; a relaxed pick
  replaced by an allowed recipe is no longer a relaxation.

Both moves keep every rule the greedy pass kept, and the outcome depends
only on the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Literal, cast

from tasks.jobs.nutrition import (
    NUTRIENTS,
    Nutrients,
    distance,
    meal_shares,
    percent_off,
    total,
)

METHOD = "greedy-then-swaps-v1"
MAX_ROUNDS = 20
# Servings a slot may plan, the usual one first.
PORTIONS: tuple[float, ...] = (1.0, 0.75, 1.25, 1.5)
# Smaller improvements are float noise; ignoring them keeps the search finite.
EPSILON = 1e-9
Relaxation = Literal["cooldown", "repeat"]


@dataclass(frozen=True)
class Recipe:
    id: str
    name: str
    meal_types: frozenset[str]
    nutrients: Nutrients


@dataclass(frozen=True)
class Pick:
    day: date
    meal_type: str
    recipe: Recipe
    relaxed: Relaxation | None = None
    last_used: date | None = None
    servings: float = 1.0

    @property
    def nutrients(self) -> Nutrients:
        return self.recipe.nutrients.scale(self.servings)


@dataclass(frozen=True)
class DayPlan:
    day: date
    picks: tuple[Pick, ...]
    target: Nutrients

    @property
    def totals(self) -> Nutrients:
        return total(p.nutrients for p in self.picks)

    @property
    def distance(self) -> float:
        return distance(self.totals, self.target)


@dataclass(frozen=True)
class WeekPlan:
    week_start: date
    meal_types: tuple[str, ...]
    target: Nutrients
    days: tuple[DayPlan, ...]
    unfilled: tuple[tuple[date, str], ...] = field(default=())

    @property
    def picks(self) -> list[Pick]:
        return [p for d in self.days for p in d.picks]

    @property
    def relaxations(self) -> list[Pick]:
        return [p for p in self.picks if p.relaxed is not None]

    def to_json(self) -> dict[str, Any]:
        """The auto_meal_plans.plan document."""
        return {
            "version": 1,
            "method": METHOD,
            "week_start": self.week_start.isoformat(),
            "meal_types": list(self.meal_types),
            "targets": self.target.rounded(),
            "days": [
                {
                    "date": d.day.isoformat(),
                    "meals": [
                        {
                            "meal_type": p.meal_type,
                            "recipe_id": p.recipe.id,
                            "name": p.recipe.name,
                            "servings": p.servings,
                            **p.nutrients.rounded(),
                            **({"relaxed": p.relaxed} if p.relaxed else {}),
                        }
                        for p in d.picks
                    ],
                    "totals": d.totals.rounded(),
                    "percent_off": percent_off(d.totals, d.target),
                    "distance_pct": round(100 * d.distance, 1),
                }
                for d in self.days
            ],
            "relaxations": [
                {
                    "date": p.day.isoformat(),
                    "meal_type": p.meal_type,
                    "recipe_id": p.recipe.id,
                    "reason": p.relaxed,
                    **({"last_used": p.last_used.isoformat()} if p.last_used else {}),
                }
                for p in self.relaxations
            ],
            "unfilled": [{"date": d.isoformat(), "meal_type": m} for d, m in self.unfilled],
        }


Vec = tuple[float, float, float, float]


def _scaled(n: Nutrients, inverse: Vec) -> Vec:
    """Nutrients in units of the day's target (0 where there is no target)."""
    return (
        n.calories * inverse[0],
        n.protein_g * inverse[1],
        n.carbs_g * inverse[2],
        n.fat_g * inverse[3],
    )


def _norm(d: Vec) -> float:
    return d[0] * d[0] + d[1] * d[1] + d[2] * d[2] + d[3] * d[3]


def _shift(d: Vec, out: Vec, into: Vec) -> Vec:
    """``d - out + into``."""
    return (
        d[0] - out[0] + into[0],
        d[1] - out[1] + into[1],
        d[2] - out[2] + into[2],
        d[3] - out[3] + into[3],
    )


def _times(v: Vec, k: float) -> Vec:
    return (v[0] * k, v[1] * k, v[2] * k, v[3] * k)


ZERO: Vec = (0.0, 0.0, 0.0, 0.0)


def plan_week(
    catalog: Sequence[Recipe],
    meal_types: Sequence[str],
    target: Nutrients,
    cooldowns: Mapping[str, Mapping[str, date]],
    week_start: date,
    days: int = 7,
) -> WeekPlan:
    """Fill ``days`` x ``meal_types`` slots (see the module docstring).

    ``cooldowns[meal_type][recipe_id]`` is the recipe's last use for that
    meal type, for every recipe still on cooldown.

    The arithmetic works on deviations in units of the day's target, so
    the error of a day is the squared length of a 4-vector (the same number
    as :func:`tasks.jobs.nutrition.squared_error`, computed without objects).
    """
    shares = meal_shares(meal_types)
    order = tuple(shares)
    by_type = {
        m: sorted((r for r in catalog if m in r.meal_types), key=lambda r: r.id) for m in order
    }
    inverse = cast(Vec, tuple(1.0 / target.get(n) if target.get(n) > 0 else 0.0 for n in NUTRIENTS))
    unit = {r.id: _scaled(r.nutrients, inverse) for r in catalog}
    whole = _scaled(target, inverse)
    uses: dict[str, int] = {}
    released: dict[str, set[str]] = {m: set() for m in order}
    slots: list[Pick] = []
    unfilled: list[tuple[date, str]] = []

    for offset in range(days):
        day = week_start + timedelta(days=offset)
        running = ZERO
        filled = 0.0
        for meal in order:
            filled += shares[meal]
            # Deviation of the running totals from the pro-rated goal.
            base = _shift(running, _times(whole, filled), ZERO)
            on_cooldown = cooldowns.get(meal, {})
            options = [
                r
                for r in by_type[meal]
                if r.id not in uses and (r.id not in on_cooldown or r.id in released[meal])
            ]
            relaxed: Relaxation | None = None
            last_used: date | None = None
            if not options:
                waiting = sorted(
                    (on_cooldown[r.id], r.id)
                    for r in by_type[meal]
                    if r.id in on_cooldown and r.id not in released[meal] and r.id not in uses
                )
                if waiting:
                    last_used, recipe_id = waiting[0]
                    released[meal].add(recipe_id)
                    options = [r for r in by_type[meal] if r.id == recipe_id]
                    relaxed = "cooldown"
            if not options and by_type[meal]:
                fewest = min(uses.get(r.id, 0) for r in by_type[meal])
                options = [r for r in by_type[meal] if uses.get(r.id, 0) == fewest]
                relaxed = "repeat"
            if not options:
                unfilled.append((day, meal))
                continue
            best, portion = min(
                ((r, portion) for r in options for portion in PORTIONS),
                key=lambda c: (
                    _norm(_shift(base, ZERO, _times(unit[c[0].id], c[1]))),
                    c[0].id,
                    abs(c[1] - 1.0),
                    c[1],
                ),
            )
            running = _shift(running, ZERO, _times(unit[best.id], portion))
            uses[best.id] = uses.get(best.id, 0) + 1
            slots.append(Pick(day, meal, best, relaxed, last_used, portion))
    slots = _improve(slots, by_type, cooldowns, unit, whole)
    day_plans = [
        DayPlan(
            week_start + timedelta(days=offset),
            tuple(p for p in slots if p.day == week_start + timedelta(days=offset)),
            target,
        )
        for offset in range(days)
    ]
    return WeekPlan(week_start, order, target, tuple(day_plans), tuple(unfilled))


def _improve(
    slots: list[Pick],
    by_type: Mapping[str, Sequence[Recipe]],
    cooldowns: Mapping[str, Mapping[str, date]],
    unit: Mapping[str, Vec],
    whole: Vec,
) -> list[Pick]:
    """Swaps and replacements while the week's error falls (module docstring)."""
    slots = list(slots)

    def vec(p: Pick) -> Vec:
        return _times(unit[p.recipe.id], p.servings)

    # Per day: deviation of the day's totals from the whole day's target.
    dev: dict[date, Vec] = {}
    for p in slots:
        dev[p.day] = _shift(dev.get(p.day, _times(whole, -1.0)), ZERO, vec(p))
    uses: dict[str, int] = {}
    for p in slots:
        uses[p.recipe.id] = uses.get(p.recipe.id, 0) + 1

    def swap(i: int, j: int) -> bool:
        a, b = slots[i], slots[j]
        if a.meal_type != b.meal_type or a.day == b.day or a.recipe.id == b.recipe.id:
            return False
        va, vb = vec(a), vec(b)
        after_a = _shift(dev[a.day], va, vb)
        after_b = _shift(dev[b.day], vb, va)
        gained = _norm(dev[a.day]) + _norm(dev[b.day]) - _norm(after_a) - _norm(after_b)
        if gained <= EPSILON:
            return False
        dev[a.day], dev[b.day] = after_a, after_b
        slots[i] = replace(
            a, recipe=b.recipe, relaxed=b.relaxed, last_used=b.last_used, servings=b.servings
        )
        slots[j] = replace(
            b, recipe=a.recipe, relaxed=a.relaxed, last_used=a.last_used, servings=a.servings
        )
        return True

    def substitute(i: int, recipe: Recipe) -> bool:
        a = slots[i]
        same = recipe.id == a.recipe.id
        if not same and (uses.get(recipe.id) or recipe.id in cooldowns.get(a.meal_type, {})):
            return False
        base = _shift(dev[a.day], vec(a), ZERO)
        now = _norm(dev[a.day])
        best: tuple[float, float, Vec] | None = None
        for portion in PORTIONS:
            if same and portion == a.servings:
                continue
            after = _shift(base, ZERO, _times(unit[recipe.id], portion))
            gained = now - _norm(after)
            if gained > EPSILON and (best is None or gained > best[0] + EPSILON):
                best = (gained, portion, after)
        if best is None:
            return False
        _, portion, dev[a.day] = best
        if same:
            slots[i] = replace(a, servings=portion)
            return True
        uses[a.recipe.id] -= 1
        uses[recipe.id] = 1
        slots[i] = replace(a, recipe=recipe, relaxed=None, last_used=None, servings=portion)
        return True

    for _ in range(MAX_ROUNDS):
        changed = False
        for i in range(len(slots)):
            for j in range(i + 1, len(slots)):
                changed = swap(i, j) or changed
            for recipe in by_type[slots[i].meal_type]:
                changed = substitute(i, recipe) or changed
        if not changed:
            break
    return slots
