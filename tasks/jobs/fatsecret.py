"""FatSecret's Platform API: the shapes we read for a user's food diary.

Assumed shapes (documented in docs/jobs.md):

* Token: ``POST {TASKS_FATSECRET_TOKEN_URL}`` with HTTP Basic
  ``client_id:client_secret`` and the form
  ``grant_type=client_credentials&scope=basic`` returns
  ``{"access_token": str, "token_type": "Bearer", "expires_in": int}``.
* Diary: ``GET {TASKS_FATSECRET_URL}?method=food_entries.get.v2&format=json
  &date=<days since 1970-01-01>&user_id=<profile id>`` with
  ``Authorization: Bearer <access_token>`` returns
  ``{"food_entries": {"food_entry": [entry] | entry}}``, or
  ``{"food_entries": null}`` / ``{}`` for an empty day (FatSecret collapses a
  one-element list into an object). An error is ``{"error": {"code",
  "message"}}`` with HTTP 200. An entry has ``food_entry_id``,
  ``food_entry_name``, ``food_entry_description``, ``meal`` (Breakfast,
  Lunch, Dinner, Other) and ``calories``, ``protein``, ``carbohydrate``,
  ``fat`` as decimal strings.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from tasks.jobs.http_client import HttpClient, SyncError
from tasks.jobs.settings import FatSecretSettings

EPOCH = date(1970, 1, 1)
MEALS: dict[str, str] = {
    "breakfast": "breakfast",
    "lunch": "lunch",
    "dinner": "dinner",
    "other": "snack",
    "snack": "snack",
    "snacks": "snack",
}


@dataclass(frozen=True)
class DiaryEntry:
    source_id: str
    day: date
    meal_type: str
    description: str
    calories: float
    protein_g: float
    carbs_g: float
    fat_g: float


def fetch_token(http: HttpClient, settings: FatSecretSettings) -> str:
    pair = f"{settings.client_id}:{settings.client_secret}".encode()
    payload = http.post_form(
        settings.token_url,
        urlencode({"grant_type": "client_credentials", "scope": "basic"}).encode(),
        {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")},
    )
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or not token:
        raise SyncError("FatSecret: the token response has no access_token")
    return token


def day_url(settings: FatSecretSettings, profile_id: str, day: date) -> str:
    query = urlencode(
        {
            "method": "food_entries.get.v2",
            "format": "json",
            "date": (day - EPOCH).days,
            "user_id": profile_id,
        }
    )
    separator = "&" if "?" in settings.url else "?"
    return f"{settings.url}{separator}{query}"


def _amount(value: object) -> float:
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return result if result >= 0 else 0.0


def parse_day(payload: Any, day: date) -> list[DiaryEntry]:
    if not isinstance(payload, dict):
        raise SyncError("FatSecret: a diary response must be a JSON object")
    error = payload.get("error")
    if isinstance(error, dict):
        raise SyncError(f"FatSecret error {error.get('code')}: {error.get('message')}")
    block = payload.get("food_entries")
    raw = block.get("food_entry") if isinstance(block, dict) else None
    items: list[Mapping[str, Any]]
    if raw is None:
        items = []
    elif isinstance(raw, dict):
        items = [raw]
    elif isinstance(raw, list):
        items = [r for r in raw if isinstance(r, dict)]
    else:
        raise SyncError("FatSecret: food_entry must be an object or a list")
    entries = []
    for item in items:
        entry_id = item.get("food_entry_id")
        if entry_id is None or str(entry_id).strip() == "":
            raise SyncError("FatSecret: a food entry has no food_entry_id")
        name = str(item.get("food_entry_name") or "").strip()
        detail = str(item.get("food_entry_description") or "").strip()
        description = f"{name} ({detail})" if name and detail else name or detail or "food entry"
        entries.append(
            DiaryEntry(
                source_id=str(entry_id),
                day=day,
                meal_type=MEALS.get(str(item.get("meal") or "other").strip().lower(), "snack"),
                description=description,
                calories=_amount(item.get("calories")),
                protein_g=_amount(item.get("protein")),
                carbs_g=_amount(item.get("carbohydrate")),
                fat_g=_amount(item.get("fat")),
            )
        )
    return entries
