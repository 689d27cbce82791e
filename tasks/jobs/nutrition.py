"""Nutrients, targets and distances: the arithmetic every job shares.

All values are per day or per serving; energy in kcal, macros in grams.
A distance is relative, so 100 kcal and 10 g of protein are comparable:
``(actual - target) / target`` per nutrient.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tasks.jobs.common import num

NUTRIENTS: tuple[str, ...] = ("calories", "protein_g", "carbs_g", "fat_g")

DEFAULT_CALORIES = 2000
# Energy split used when a user set no macro target: 20% protein, 50% carbs,
# 30% fat (the middle of the usual dietary reference ranges).
PROTEIN_SHARE, CARBS_SHARE, FAT_SHARE = 0.20, 0.50, 0.30
KCAL_PER_G = {"protein_g": 4.0, "carbs_g": 4.0, "fat_g": 9.0}

# How a day's target is split over the meals the user plans; renormalised
# over the meal types actually planned (lunch + dinner only: 35/75 and 40/75).
MEAL_SHARES: dict[str, float] = {"breakfast": 0.25, "lunch": 0.35, "dinner": 0.40, "snack": 0.10}
MEAL_ORDER: tuple[str, ...] = ("breakfast", "lunch", "dinner", "snack")


@dataclass(frozen=True)
class Nutrients:
    calories: float = 0.0
    protein_g: float = 0.0
    carbs_g: float = 0.0
    fat_g: float = 0.0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Nutrients:
        return cls(*(num(row.get(n)) for n in NUTRIENTS))

    def get(self, name: str) -> float:
        return float(getattr(self, name))

    def __add__(self, other: Nutrients) -> Nutrients:
        return Nutrients(*(self.get(n) + other.get(n) for n in NUTRIENTS))

    def scale(self, factor: float) -> Nutrients:
        return Nutrients(*(self.get(n) * factor for n in NUTRIENTS))

    def rounded(self) -> dict[str, float]:
        return {n: round(self.get(n), 1) for n in NUTRIENTS}


def total(items: Iterable[Nutrients]) -> Nutrients:
    result = Nutrients()
    for item in items:
        result = result + item
    return result


def targets_from_preferences(row: Mapping[str, Any] | None) -> Nutrients:
    """The user's daily targets; unset macros follow from the calorie target."""
    row = row or {}
    calories = num(row.get("calorie_target")) or DEFAULT_CALORIES
    derived = {
        "protein_g": calories * PROTEIN_SHARE / KCAL_PER_G["protein_g"],
        "carbs_g": calories * CARBS_SHARE / KCAL_PER_G["carbs_g"],
        "fat_g": calories * FAT_SHARE / KCAL_PER_G["fat_g"],
    }
    macros = {
        n: num(row.get(f"{n}_target")) if row.get(f"{n}_target") is not None else derived[n]
        for n in derived
    }
    return Nutrients(calories, macros["protein_g"], macros["carbs_g"], macros["fat_g"])


def meal_shares(meal_types: Iterable[str]) -> dict[str, float]:
    """Each planned meal type's share of the day, summing to 1, in meal order."""
    chosen = [m for m in MEAL_ORDER if m in set(meal_types)]
    weight = sum(MEAL_SHARES[m] for m in chosen)
    return {m: MEAL_SHARES[m] / weight for m in chosen}


def relative_errors(actual: Nutrients, target: Nutrients) -> dict[str, float]:
    """(actual - target) / target per nutrient; nutrients with no target are left out."""
    return {
        n: (actual.get(n) - target.get(n)) / target.get(n) for n in NUTRIENTS if target.get(n) > 0
    }


def squared_error(actual: Nutrients, target: Nutrients) -> float:
    return sum(e * e for e in relative_errors(actual, target).values())


def distance(actual: Nutrients, target: Nutrients) -> float:
    """Root mean square of the relative errors: 0.1 = 10% off on average."""
    errors = relative_errors(actual, target)
    return math.sqrt(sum(e * e for e in errors.values()) / len(errors)) if errors else 0.0


def percent_off(actual: Nutrients, target: Nutrients) -> dict[str, float]:
    return {n: round(100 * e, 1) for n, e in relative_errors(actual, target).items()}
