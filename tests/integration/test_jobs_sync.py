"""auto_sync against local Tandoor and FatSecret stand-ins (http.server on 127.0.0.1:0).

Pagination, the incremental cursor, removals, 429 Retry-After and 5xx
backoff (with an injected sleep, so nothing waits), per-user isolation,
and "not configured" being a skip, not an error.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tasks.jobs.http_client import HttpClient, SyncError
from tasks.jobs.settings import FatSecretSettings, SyncSettings, TandoorSettings
from tasks.jobs.sync import auto_sync, run_sync
from tasks.store import encode_output
from tests.integration.jobs_support import add_user, make_ctx

TOKEN = "tandoor-token"
FS_TOKEN = "fatsecret-access"


class Fake:
    """What the stand-in servers serve, and what they saw."""

    def __init__(self) -> None:
        self.recipes: dict[int, dict[str, Any]] = {}
        self.diaries: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.broken_profiles: set[str] = set()
        self.scripted: list[tuple[int, dict[str, str]]] = []  # responses served first
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.lock = threading.Lock()

    def recipe_page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        page = int(query.get("page", ["1"])[0])
        size = int(query.get("page_size", ["50"])[0])
        items = [self.recipes[k] for k in sorted(self.recipes)]
        since = query.get("updatedon_gte", [None])[0]
        if since:
            items = [r for r in items if r["updated_at"][:10] >= since]
        chunk = items[(page - 1) * size : page * size]
        more = page * size < len(items)
        listed = [{k: v for k, v in r.items() if k != "nutrition"} for r in chunk]
        return {
            "count": len(items),
            "next": f"http://elsewhere.invalid/api/recipe/?page={page + 1}" if more else None,
            "previous": None,
            "results": listed,
        }


def make_handler(fake: Fake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def scripted(self) -> bool:
            with fake.lock:
                if not fake.scripted:
                    return False
                status, headers = fake.scripted.pop(0)
            self.send_json(status, {"detail": "scripted"}, headers)
            return True

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            fake.requests.append(("GET", parts.path, query))
            if self.scripted():
                return
            auth = self.headers.get("Authorization")
            if parts.path.startswith("/api/recipe/"):
                if auth != f"Bearer {TOKEN}":
                    return self.send_json(401, {"detail": "bad token"})
                rest = parts.path[len("/api/recipe/") :].strip("/")
                if rest:
                    return self.send_json(200, fake.recipes[int(rest)])
                return self.send_json(200, fake.recipe_page(query))
            if parts.path == "/rest/server.api":
                if auth != f"Bearer {FS_TOKEN}":
                    return self.send_json(401, {"error": "invalid token"})
                profile = query["user_id"][0]
                if profile in fake.broken_profiles:
                    return self.send_json(500, {"error": "boom"})
                day = int(query["date"][0])
                entries = fake.diaries.get((profile, day), [])
                body: dict[str, Any] = {"food_entries": None}
                if len(entries) == 1:
                    body = {"food_entries": {"food_entry": entries[0]}}
                elif entries:
                    body = {"food_entries": {"food_entry": entries}}
                return self.send_json(200, body)
            return self.send_json(404, {"detail": "not found"})

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            fake.requests.append(("POST", parts.path, form))
            if self.scripted():
                return
            if parts.path == "/connect/token" and form.get("grant_type") == ["client_credentials"]:
                return self.send_json(200, {"access_token": FS_TOKEN, "expires_in": 86400})
            return self.send_json(400, {"error": "bad request"})

    return Handler


@pytest.fixture
def fake() -> Iterator[tuple[Fake, str]]:
    state = Fake()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def tandoor_recipe(rid: int, updated: str, meal: str | None = "dinner", kcal: float = 500) -> dict:
    keywords = [{"id": 1, "name": meal.capitalize()}] if meal else [{"id": 9, "name": "Quick"}]
    return {
        "id": rid,
        "name": f"Recipe {rid}",
        "servings": 2,
        "keywords": keywords,
        "updated_at": updated,
        "nutrition": {"calories": kcal, "proteins": 30, "carbohydrates": 50, "fats": "20.5"},
    }


def settings_for(url: str, tandoor: bool = True, fatsecret: bool = True) -> SyncSettings:
    return SyncSettings(
        TandoorSettings(url, TOKEN) if tandoor else None,
        FatSecretSettings(f"{url}/rest/server.api", f"{url}/connect/token", "id", "secret")
        if fatsecret
        else None,
    )


def client(sleeps: list[float] | None = None) -> HttpClient:
    return HttpClient(timeout=5, sleep=(sleeps if sleeps is not None else []).append)


def recipe_rows(db) -> dict[str, dict]:
    rows = db.execute(
        """SELECT id, source_id, name, meal_types::text[] AS meal_types, calories, fat_g,
                  removed_at FROM recipes ORDER BY id"""
    ).fetchall()
    return {r["source_id"]: r for r in rows}


def test_pagination_detail_fetch_and_meal_types(db, database, fake):
    state, url = fake
    for rid in range(1, 6):
        state.recipes[rid] = tandoor_recipe(rid, f"2026-03-0{rid}T10:00:00+00:00")
    state.recipes[5] = tandoor_recipe(5, "2026-03-05T10:00:00+00:00", meal=None)

    out = run_sync(database, settings_for(url, fatsecret=False), client(), {"page_size": 2})

    recipes = out["recipes"]
    assert (recipes["mode"], recipes["pages"], recipes["seen"], recipes["upserted"]) == (
        "full",
        3,
        5,
        5,
    )
    assert recipes["details_fetched"] == 5  # the list carries no nutrition
    assert recipes["cursor"] == "2026-03-05T10:00:00+00:00"
    rows = recipe_rows(db)
    assert set(rows) == {"1", "2", "3", "4", "5"}
    assert rows["1"]["id"] == "tandoor:1" and rows["1"]["meal_types"] == ["dinner"]
    assert rows["5"]["meal_types"] == ["lunch", "dinner"]  # untagged
    assert float(rows["1"]["calories"]) == 500 and float(rows["1"]["fat_g"]) == 20.5
    pages = [q["page"][0] for m, p, q in state.requests if p == "/api/recipe/"]
    assert pages == ["1", "2", "3"]  # by number: the (foreign) next link is never followed
    assert out["food_diary"]["status"] == "skipped"


def test_incremental_sync_uses_the_cursor_and_full_sync_marks_removals(db, database, fake):
    state, url = fake
    for rid in range(1, 4):
        state.recipes[rid] = tandoor_recipe(rid, f"2026-03-0{rid}T10:00:00+00:00")
    settings = settings_for(url, fatsecret=False)
    run_sync(database, settings, client())

    state.recipes[2] = tandoor_recipe(2, "2026-03-07T09:00:00+00:00", kcal=650)
    state.recipes[4] = tandoor_recipe(4, "2026-03-07T11:30:00+00:00")
    state.requests.clear()
    out = run_sync(database, settings, client())["recipes"]

    assert out["mode"] == "incremental"
    lists = [q for m, p, q in state.requests if p == "/api/recipe/"]
    assert lists[0]["updatedon_gte"] == ["2026-03-02"]  # cursor 03-03, a day's margin
    assert out["upserted"] == 2  # recipe 3 was listed again but had not changed
    assert out["cursor"] == "2026-03-07T11:30:00+00:00"
    assert float(recipe_rows(db)["2"]["calories"]) == 650
    assert "removed" not in out

    del state.recipes[3]
    out = run_sync(database, settings, client(), {"full": True})["recipes"]
    assert out["mode"] == "full" and out["removed"] == 1
    rows = recipe_rows(db)
    assert rows["3"]["removed_at"] is not None
    assert all(rows[k]["removed_at"] is None for k in ("1", "2", "4"))

    state.recipes[3] = tandoor_recipe(3, "2026-03-08T10:00:00+00:00")
    run_sync(database, settings, client(), {"full": True})
    assert recipe_rows(db)["3"]["removed_at"] is None  # back again


def test_429_retry_after_and_5xx_backoff_inside_the_attempt(db, database, fake):
    state, url = fake
    state.recipes[1] = tandoor_recipe(1, "2026-03-01T10:00:00+00:00")
    state.scripted = [(429, {"Retry-After": "7"}), (503, {}), (502, {})]
    sleeps: list[float] = []
    out = run_sync(database, settings_for(url, fatsecret=False), client(sleeps))
    assert out["recipes"]["status"] == "ok" and out["recipes"]["upserted"] == 1
    assert sleeps == [7.0, 2.0, 4.0]  # Retry-After, then backoff 2^(n-1) for attempts 2 and 3
    assert out["http"]["waited_seconds"] == 13.0


def test_a_retry_after_beyond_the_bound_gives_up_and_fails_the_job(db, database, fake):
    state, url = fake
    state.scripted = [(429, {"Retry-After": "3600"})]
    sleeps: list[float] = []
    with pytest.raises(SyncError, match=r"nothing synced .*HTTP 429, asked to wait 3600s"):
        run_sync(database, settings_for(url, fatsecret=False), client(sleeps))
    assert sleeps == []


def test_one_users_failure_does_not_fail_the_others(db, database, fake):
    state, url = fake
    today = db.execute("SELECT (now() AT TIME ZONE 'UTC')::date AS d").fetchone()["d"]
    epoch = (today - date(1970, 1, 1)).days
    good = add_user(db, "good@example.com", fatsecret_user_id="p-good")
    bad = add_user(db, "bad@example.com", fatsecret_user_id="p-bad")
    other = add_user(db, "other@example.com", fatsecret_user_id="p-other")
    add_user(db, "not-opted-in@example.com")
    state.broken_profiles.add("p-bad")
    state.diaries[("p-good", epoch)] = [
        {
            "food_entry_id": "11",
            "food_entry_name": "Oats",
            "food_entry_description": "1 cup",
            "meal": "Breakfast",
            "calories": "300",
            "protein": "10.5",
            "carbohydrate": "54",
            "fat": "5",
        },
        {"food_entry_id": "12", "food_entry_name": "Apple", "meal": "Other", "calories": "95"},
    ]
    state.diaries[("p-other", epoch - 1)] = [
        {"food_entry_id": "21", "food_entry_name": "Soup", "meal": "Dinner", "calories": "250"},
    ]
    sleeps: list[float] = []

    out = run_sync(database, settings_for(url, tandoor=False), client(sleeps))

    diary = out["food_diary"]
    assert diary["status"] == "partial" and (diary["ok"], diary["failed"]) == (2, 1)
    assert diary["users"][str(good)]["entries"] == 2
    assert diary["users"][str(other)]["entries"] == 1
    assert diary["users"][str(bad)]["status"] == "error"
    assert "HTTP 500" in diary["users"][str(bad)]["error"]
    assert len(sleeps) == 4  # the broken profile's first day: 5 attempts, 4 waits
    assert out["recipes"]["status"] == "skipped"
    rows = db.execute(
        """SELECT user_id, day, meal_type::text AS meal, description, calories, protein_g
           FROM food_log ORDER BY user_id, source_id"""
    ).fetchall()
    assert [(r["user_id"], r["meal"], r["description"]) for r in rows] == [
        (good, "breakfast", "Oats (1 cup)"),
        (good, "snack", "Apple"),
        (other, "dinner", "Soup"),
    ]
    assert rows[0]["day"] == today and float(rows[0]["protein_g"]) == 10.5
    assert rows[2]["day"] == today - timedelta(days=1)
    first_days = diary["users"][str(good)]["days"]
    assert first_days == [(today - timedelta(days=6)).isoformat(), today.isoformat()]

    # Next run: from the day before the last synced day; an entry deleted in
    # FatSecret is deleted here.
    state.diaries[("p-good", epoch)] = state.diaries[("p-good", epoch)][:1]
    state.broken_profiles.clear()
    out = run_sync(database, settings_for(url, tandoor=False), client())
    good_out = out["food_diary"]["users"][str(good)]
    assert good_out["days"] == [(today - timedelta(days=1)).isoformat(), today.isoformat()]
    assert good_out["deleted"] == 1
    assert out["food_diary"]["status"] == "ok"
    assert encode_output(out)
    assert (
        db.execute("SELECT count(*) AS n FROM food_log WHERE user_id = %s", (good,)).fetchone()["n"]
        == 1
    )


def test_not_configured_is_a_skip_not_an_error(database, monkeypatch):
    for name in (
        "TASKS_TANDOOR_URL",
        "TASKS_TANDOOR_TOKEN",
        "TASKS_FATSECRET_URL",
        "TASKS_FATSECRET_TOKEN_URL",
        "TASKS_FATSECRET_CLIENT_ID",
        "TASKS_FATSECRET_CLIENT_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    out = auto_sync(make_ctx(database, "auto_sync", None, job_id="auto_sync:system"))
    assert out["recipes"] == {"status": "skipped", "reason": "TASKS_TANDOOR_URL is not set"}
    assert out["food_diary"] == {"status": "skipped", "reason": "TASKS_FATSECRET_URL is not set"}
    assert out["http"]["requests"] == 0


def test_credentials_never_follow_a_redirect() -> None:
    from http.server import HTTPServer

    from tasks.jobs.http_client import HttpClient, HttpError

    seen: list[str | None] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

    other = HTTPServer(("127.0.0.1", 0), Elsewhere)

    class Redirecting(Elsewhere):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{other.server_address[1]}/steal")
            self.end_headers()

    origin = HTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (origin, other):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(HttpError, match="HTTP 302"):
            HttpClient().get_json(
                f"http://127.0.0.1:{origin.server_address[1]}/api/recipe/",
                headers={"Authorization": "Bearer SECRET"},
            )
        assert seen == []
    finally:
        for server in (origin, other):
            server.shutdown()
            server.server_close()
