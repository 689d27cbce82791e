"""Tandoor's REST API: the shapes we read, and how a recipe becomes ours.

Assumed shapes (Tandoor 1.5+; documented in docs/jobs.md):

* ``GET {TASKS_TANDOOR_URL}/api/recipe/?page=N&page_size=M[&updatedon_gte=YYYY-MM-DD]``
  with ``Authorization: Bearer <TASKS_TANDOOR_TOKEN>`` returns
  ``{"count": int, "next": url|null, "previous": url|null, "results": [item]}``.
  Pages are walked by number until ``next`` is null (the ``next`` link
  itself is not followed: behind a proxy it often names the wrong scheme or
  host, and the token must only ever go to TASKS_TANDOOR_URL).
* An item has ``id``, ``name``, ``updated_at`` (ISO 8601), ``servings``,
  ``keywords`` (``[{"name": ...}]``) and, in the detail
  ``GET /api/recipe/{id}/``, the nutrition *per serving* either as
  ``nutrition: {calories, proteins, carbohydrates, fats}`` (older versions)
  or as ``properties: [{property_type: {name}, property_amount}]`` (newer).
  A list item without nutrition is fetched in detail, only when it changed.
* Meal types come from keywords named breakfast, lunch, dinner or snack
  (any case; "snacks" too). A recipe with none of them is planned as lunch
  or dinner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tasks.jobs.http_client import SyncError

MEAL_KEYWORDS: dict[str, str] = {
    "breakfast": "breakfast",
    "lunch": "lunch",
    "dinner": "dinner",
    "snack": "snack",
    "snacks": "snack",
}
UNTAGGED_MEAL_TYPES: tuple[str, ...] = ("lunch", "dinner")

# Property names (lower case) that carry each nutrient, newest spelling first.
_PROPERTY_NAMES: dict[str, tuple[str, ...]] = {
    "calories": ("calories", "energy", "kcal"),
    "protein_g": ("proteins", "protein"),
    "carbs_g": ("carbohydrates", "carbs", "carbohydrate"),
    "fat_g": ("fats", "fat"),
}
_NUTRITION_KEYS: dict[str, str] = {
    "calories": "calories",
    "protein_g": "proteins",
    "carbs_g": "carbohydrates",
    "fat_g": "fats",
}


@dataclass(frozen=True)
class RemoteRecipe:
    source_id: str
    name: str
    meal_types: tuple[str, ...]
    servings: float
    calories: float | None
    protein_g: float | None
    carbs_g: float | None
    fat_g: float | None
    updated_at: datetime | None


def parse_page(payload: Any) -> tuple[list[Mapping[str, Any]], bool, int | None]:
    """(results, has_next, count) of one list page; a wrong shape is a SyncError."""
    if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
        raise SyncError("Tandoor: a recipe page must be an object with a results list")
    results: list[Mapping[str, Any]] = [r for r in payload["results"] if isinstance(r, dict)]
    count = payload.get("count")
    return results, bool(payload.get("next")), count if isinstance(count, int) else None


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _number(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return result if result >= 0 else None


def nutrition_of(item: Mapping[str, Any]) -> dict[str, float | None] | None:
    """Per-serving nutrition from ``properties`` or ``nutrition``; None when absent."""
    props = item.get("properties")
    if isinstance(props, list) and props:
        by_name: dict[str, float | None] = {}
        for prop in props:
            if not isinstance(prop, dict):
                continue
            ptype = prop.get("property_type")
            name = ptype.get("name") if isinstance(ptype, dict) else None
            if isinstance(name, str):
                by_name[name.strip().lower()] = _number(prop.get("property_amount"))
        found = {
            n: next((by_name[a] for a in aliases if a in by_name), None)
            for n, aliases in _PROPERTY_NAMES.items()
        }
        if found["calories"] is not None:
            return found
    nutrition = item.get("nutrition")
    if isinstance(nutrition, dict):
        found = {n: _number(nutrition.get(key)) for n, key in _NUTRITION_KEYS.items()}
        if found["calories"] is not None:
            return found
    return None


def meal_types_of(item: Mapping[str, Any]) -> tuple[str, ...]:
    found = set()
    for keyword in item.get("keywords") or []:
        name = keyword.get("name") if isinstance(keyword, dict) else keyword
        if isinstance(name, str) and name.strip().lower() in MEAL_KEYWORDS:
            found.add(MEAL_KEYWORDS[name.strip().lower()])
    order = ("breakfast", "lunch", "dinner", "snack")
    return tuple(m for m in order if m in found) or UNTAGGED_MEAL_TYPES


def source_id_of(item: Mapping[str, Any]) -> str:
    raw = item.get("id")
    if isinstance(raw, bool) or not isinstance(raw, int | str) or str(raw).strip() == "":
        raise SyncError(f"Tandoor: a recipe has no usable id: {raw!r}")
    return str(raw)


def to_recipe(
    item: Mapping[str, Any], nutrition: Mapping[str, float | None] | None
) -> RemoteRecipe:
    name = item.get("name")
    servings = _number(item.get("servings")) or 1.0
    n = nutrition or {}
    return RemoteRecipe(
        source_id=source_id_of(item),
        name=name.strip() if isinstance(name, str) and name.strip() else f"recipe {item.get('id')}",
        meal_types=meal_types_of(item),
        servings=servings,
        calories=n.get("calories"),
        protein_g=n.get("protein_g"),
        carbs_g=n.get("carbs_g"),
        fat_g=n.get("fat_g"),
        updated_at=parse_time(item.get("updated_at")),
    )
