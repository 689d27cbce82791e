"""``auto_sync``: the recipe catalog from Tandoor, food diaries from FatSecret.

Recipes (system-wide): an incremental pull since the last successful sync's
cursor (the newest ``updated_at`` seen), upserted by (source, source_id). A
full pull (first run, ``parameters.full``, or every ``full_sync_hours``,
default 24) also marks recipes that disappeared from Tandoor as removed, but
only when the listing was complete and consistent (the count did not change
while paging), so a page shifting under us never removes a live recipe.

Diaries (per user who set ``user_preferences.fatsecret_user_id``): the days
since that user's last synced day (at least yesterday and today, at most
``diary_days``, default 7) in the user's own zone; each day's entries are
upserted and entries deleted in FatSecret are deleted here. Each user is one
transaction and one try: one user's failure is reported and the others go on.

HTTP retries (429 Retry-After, 5xx backoff) happen inside the attempt; see
:mod:`tasks.jobs.http_client`. A service that is not configured is skipped
and the output says so. The job fails (and Postgres retries it) only when
something was attempted and nothing at all succeeded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from tasks.db import Database
from tasks.handlers import TIME_LIMITS, JobContext, job_handler
from tasks.jobs.common import database_now, param_int, require_db, short_error
from tasks.jobs.fatsecret import DiaryEntry, day_url, fetch_token, parse_day
from tasks.jobs.http_client import HttpClient, HttpError, SyncError
from tasks.jobs.settings import FatSecretSettings, SyncSettings, TandoorSettings, job_settings
from tasks.jobs.tandoor import RemoteRecipe, nutrition_of, parse_page, source_id_of, to_recipe

log = logging.getLogger(__name__)

MAX_PAGES = 10_000


# ---------------------------------------------------------------- recipes


def _changed(items: list[Mapping[str, Any]], known: Mapping[str, Mapping[str, Any]]) -> list[Any]:
    """Items that are new, changed since we stored them, or came back after removal."""
    changed = []
    for item in items:
        sid = source_id_of(item)
        row = known.get(sid)
        updated = to_recipe(item, None).updated_at
        if (
            row is None
            or row["removed"]
            or updated is None
            or row["source_updated_at"] is None
            or updated > row["source_updated_at"]
        ):
            changed.append(item)
    return changed


def _upsert_recipes(db: Database, recipes: list[RemoteRecipe]) -> None:
    with db.transaction() as tx:
        for r in recipes:
            tx.exec(
                "upsert_synced_recipe",
                source="tandoor",
                source_id=r.source_id,
                name=r.name,
                meal_types=list(r.meal_types),
                servings=r.servings,
                calories=r.calories,
                protein_g=r.protein_g,
                carbs_g=r.carbs_g,
                fat_g=r.fat_g,
                source_updated_at=r.updated_at,
            )


@dataclass
class _RecipePass:
    """What one walk over Tandoor's recipe pages saw."""

    full: bool
    newest: datetime | None
    seen: list[str] = field(default_factory=list)
    counts: set[int] = field(default_factory=set)
    pages: int = 0
    upserted: int = 0
    details: int = 0


def _sync_page(
    db: Database,
    http: HttpClient,
    base: str,
    headers: Mapping[str, str],
    items: list[Mapping[str, Any]],
    walk: _RecipePass,
) -> None:
    """Upsert a page's new or changed recipes, fetching details where the list lacks nutrition."""
    ids = [source_id_of(i) for i in items]
    walk.seen.extend(ids)
    known = {
        r["source_id"]: r
        for r in db.many("recipe_source_versions", source="tandoor", source_ids=ids)
    }
    recipes = []
    for item in _changed(items, known):
        merged, nutrition = item, nutrition_of(item)
        if nutrition is None:
            detail = http.get_json(f"{base}{quote(source_id_of(item), safe='')}/", headers)
            walk.details += 1
            if isinstance(detail, dict):
                merged, nutrition = {**item, **detail}, nutrition_of(detail)
        recipes.append(to_recipe(merged, nutrition))
    _upsert_recipes(db, recipes)
    walk.upserted += len(recipes)
    for r in recipes:
        if r.updated_at is not None and (walk.newest is None or r.updated_at > walk.newest):
            walk.newest = r.updated_at


def _removals(db: Database, walk: _RecipePass, now: datetime) -> dict[str, Any]:
    """After a full walk: mark what Tandoor no longer lists, if the walk can be trusted."""
    consistent = len(walk.counts) <= 1 and walk.counts in (set(), {len(set(walk.seen))})
    if not consistent:
        return {
            "removed": 0,
            "note": "the catalog changed while paging; removals wait for the next full sync",
        }
    live = db.one("live_recipe_count", source="tandoor")
    if not walk.seen and live and live["n"]:
        return {
            "removed": 0,
            "note": "Tandoor listed no recipes at all; not removing the whole catalog",
        }
    row = db.one("mark_removed_recipes", source="tandoor", seen=walk.seen, now=now)
    return {"removed": row["removed"] if row else 0}


def sync_recipes(
    db: Database,
    settings: TandoorSettings,
    http: HttpClient,
    now: datetime,
    page_size: int = 100,
    force_full: bool = False,
    full_sync_hours: int = 24,
) -> dict[str, Any]:
    state = db.one("sync_cursor", source="tandoor", user_id=None)
    cursor = datetime.fromisoformat(state["cursor"]) if state and state["cursor"] else None
    last_full = state["last_full_sync_at"] if state else None
    full = (
        force_full
        or cursor is None
        or last_full is None
        or now - last_full >= timedelta(hours=full_sync_hours)
    )
    headers = {"Authorization": f"Bearer {settings.token}"}
    base = f"{settings.url}/api/recipe/"
    walk = _RecipePass(full=full, newest=cursor)
    for page in range(1, MAX_PAGES + 1):
        query: dict[str, object] = {"page": page, "page_size": page_size}
        if not full and cursor is not None:
            # Tandoor filters by date only; a day's margin covers its time zone.
            query["updatedon_gte"] = (cursor - timedelta(days=1)).date().isoformat()
        items, has_next, count = parse_page(http.get_json(f"{base}?{urlencode(query)}", headers))
        walk.pages += 1
        if count is not None:
            walk.counts.add(count)
        _sync_page(db, http, base, headers, items, walk)
        if not has_next:
            break
    else:
        raise SyncError(f"Tandoor: more than {MAX_PAGES} pages; giving up")

    result: dict[str, Any] = {
        "status": "ok",
        "mode": "full" if full else "incremental",
        "pages": walk.pages,
        "seen": len(walk.seen),
        "upserted": walk.upserted,
        "details_fetched": walk.details,
    }
    if full:
        result.update(_removals(db, walk, now))
    cursor_text = walk.newest.isoformat() if walk.newest else None
    db.exec(
        "save_sync_cursor", source="tandoor", user_id=None, cursor=cursor_text, full=full, now=now
    )
    result["cursor"] = cursor_text
    return result


# ---------------------------------------------------------------- diaries


def diary_days(local_today: date, cursor: str | None, max_days: int) -> list[date]:
    """From the day before the last synced day (entries arrive late) to today."""
    earliest = local_today - timedelta(days=max_days - 1)
    start = earliest
    if cursor:
        start = max(earliest, date.fromisoformat(cursor) - timedelta(days=1))
    start = min(start, local_today - timedelta(days=1)) if max_days > 1 else local_today
    return [start + timedelta(days=i) for i in range((local_today - start).days + 1)]


def _write_diary(
    db: Database, user_id: int, by_day: Mapping[date, list[DiaryEntry]], today: date
) -> tuple[int, int]:
    written = deleted = 0
    with db.transaction() as tx:
        for day, entries in by_day.items():
            if entries:
                tx.exec(
                    "upsert_food_entries",
                    user_id=user_id,
                    source="fatsecret",
                    source_ids=[e.source_id for e in entries],
                    days=[e.day for e in entries],
                    meal_types=[e.meal_type for e in entries],
                    descriptions=[e.description for e in entries],
                    recipe_ids=[None for _ in entries],
                    calories=[e.calories for e in entries],
                    protein_g=[e.protein_g for e in entries],
                    carbs_g=[e.carbs_g for e in entries],
                    fat_g=[e.fat_g for e in entries],
                )
            row = tx.one(
                "delete_stale_food_entries",
                user_id=user_id,
                source="fatsecret",
                day=day,
                keep=[e.source_id for e in entries],
            )
            written += len(entries)
            deleted += row["deleted"] if row else 0
        tx.exec(
            "save_sync_cursor",
            source="fatsecret",
            user_id=user_id,
            cursor=today.isoformat(),
            full=False,
            now=None,
        )
    return written, deleted


def sync_diaries(
    db: Database,
    settings: FatSecretSettings,
    http: HttpClient,
    now: datetime,
    max_days: int = 7,
) -> dict[str, Any]:
    users = db.many("diary_sync_users", at=now)
    if not users:
        return {"status": "ok", "users": {}, "ok": 0, "failed": 0, "note": "no user opted in"}
    token = fetch_token(http, settings)
    results: dict[str, Any] = {}
    for user in users:
        uid = int(user["user_id"])
        days = diary_days(user["local_today"], user["cursor"], max_days)
        try:
            by_day: dict[date, list[DiaryEntry]] = {}
            for day in days:
                url = day_url(settings, str(user["fatsecret_user_id"]), day)
                try:
                    payload = http.get_json(url, {"Authorization": f"Bearer {token}"})
                except HttpError as exc:
                    if exc.status != 401:
                        raise
                    token = fetch_token(http, settings)  # expired mid-run: once more
                    payload = http.get_json(url, {"Authorization": f"Bearer {token}"})
                by_day[day] = parse_day(payload, day)
            written, deleted = _write_diary(db, uid, by_day, user["local_today"])
        except TIME_LIMITS:
            raise  # the job's timeout ends the whole run, not one user's part
        except Exception as exc:
            log.warning(
                "diary sync failed for one user",
                extra={"action": "diary_sync", "user_id": uid, "error": short_error(exc)},
            )
            results[str(uid)] = {"status": "error", "error": short_error(exc)}
            continue
        results[str(uid)] = {
            "status": "ok",
            "days": [days[0].isoformat(), days[-1].isoformat()],
            "entries": written,
            "deleted": deleted,
        }
    failed = sum(1 for r in results.values() if r["status"] == "error")
    return {
        "status": "ok" if not failed else ("error" if failed == len(results) else "partial"),
        "users": results,
        "ok": len(results) - failed,
        "failed": failed,
    }


# ---------------------------------------------------------------- the job


def run_sync(
    db: Database,
    settings: SyncSettings,
    http: HttpClient,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    params = parameters or {}
    now = database_now(db)
    output: dict[str, Any] = {}
    attempted = succeeded = 0

    if settings.tandoor is None:
        output["recipes"] = {"status": "skipped", "reason": "TASKS_TANDOOR_URL is not set"}
    else:
        attempted += 1
        try:
            output["recipes"] = sync_recipes(
                db,
                settings.tandoor,
                http,
                now,
                page_size=param_int(params, "page_size", 100, 1, 100),
                force_full=params.get("full") is True,
                full_sync_hours=param_int(params, "full_sync_hours", 24, 1, 24 * 30),
            )
            succeeded += 1
        except TIME_LIMITS:
            raise
        except Exception as exc:
            log.warning(
                "recipe sync failed", extra={"action": "recipe_sync", "error": short_error(exc)}
            )
            output["recipes"] = {"status": "error", "error": short_error(exc)}

    if settings.fatsecret is None:
        output["food_diary"] = {"status": "skipped", "reason": "TASKS_FATSECRET_URL is not set"}
    else:
        attempted += 1
        try:
            diary = sync_diaries(
                db,
                settings.fatsecret,
                http,
                now,
                max_days=param_int(params, "diary_days", 7, 1, 31),
            )
            output["food_diary"] = diary
            if diary["status"] != "error":
                succeeded += 1
        except TIME_LIMITS:
            raise
        except Exception as exc:
            log.warning(
                "diary sync failed", extra={"action": "diary_sync", "error": short_error(exc)}
            )
            output["food_diary"] = {"status": "error", "error": short_error(exc)}

    output["http"] = {"requests": http.requests, "waited_seconds": round(http.waited, 3)}
    if attempted and not succeeded:
        errors = "; ".join(
            f"{part}: {output[part].get('error') or 'every user failed'}"
            for part in ("recipes", "food_diary")
            if output[part]["status"] == "error"
        )
        raise SyncError(f"auto_sync: nothing synced ({errors})")
    return output


@job_handler("auto_sync")
def auto_sync(ctx: JobContext) -> dict[str, Any]:
    return run_sync(require_db(ctx), job_settings().sync, HttpClient(), ctx.parameters)
