"""Settings, HTTP helpers, the Tandoor and FatSecret shapes, the PNG writer."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, date, datetime

import pytest

from tasks.errors import ConfigError
from tasks.jobs.advisor import Status, assess, recommend, subject_for
from tasks.jobs.fatsecret import day_url, parse_day
from tasks.jobs.generation import next_monday
from tasks.jobs.http_client import SyncError, retry_after_seconds
from tasks.jobs.nutrition import Nutrients
from tasks.jobs.planner import Recipe
from tasks.jobs.png import Canvas, encode_png, week_chart
from tasks.jobs.settings import FatSecretSettings, MailSettings, SyncSettings
from tasks.jobs.sync import diary_days
from tasks.jobs.tandoor import meal_types_of, nutrition_of, parse_page, to_recipe
from tasks.jobs.trends import Logged, Planned, adherence

FULL_ENV = {
    "TASKS_TANDOOR_URL": "https://tandoor.example/",
    "TASKS_TANDOOR_TOKEN": "t",
    "TASKS_FATSECRET_URL": "https://platform.fatsecret.example/rest/server.api",
    "TASKS_FATSECRET_TOKEN_URL": "https://oauth.fatsecret.example/connect/token",
    "TASKS_FATSECRET_CLIENT_ID": "id",
    "TASKS_FATSECRET_CLIENT_SECRET": "hunter2",
}


def test_sync_settings_from_env():
    s = SyncSettings.from_env(FULL_ENV)
    assert s.tandoor is not None and s.tandoor.url == "https://tandoor.example"
    assert s.fatsecret is not None and "hunter2" not in repr(s)
    assert SyncSettings.from_env({}) == SyncSettings(None, None)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TASKS_TANDOOR_URL": "https://x"}, "TASKS_TANDOOR_TOKEN is not set"),
        ({"TASKS_TANDOOR_TOKEN": "t"}, "TASKS_TANDOOR_URL is not set"),
        (
            {"TASKS_TANDOOR_URL": "ftp://x", "TASKS_TANDOOR_TOKEN": "t"},
            "TASKS_TANDOOR_URL must be an http",
        ),
        (
            {**{k: v for k, v in FULL_ENV.items() if k != "TASKS_FATSECRET_CLIENT_SECRET"}},
            "TASKS_FATSECRET_CLIENT_SECRET is not set",
        ),
        (
            {**FULL_ENV, "TASKS_FATSECRET_TOKEN_URL": "oauth.example/token"},
            "TASKS_FATSECRET_TOKEN_URL must be",
        ),
    ],
)
def test_sync_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message):
        SyncSettings.from_env(env)


def test_mail_settings():
    assert MailSettings.from_env({}) is None
    m = MailSettings.from_env({"TASKS_SMTP_URL": "smtps://me%40x.org:p%3Ass@mail.example"})
    assert m is not None
    assert (m.host, m.port, m.use_tls, m.username, m.password) == (
        "mail.example",
        465,
        True,
        "me@x.org",
        "p:ss",
    )
    assert "p:ss" not in repr(m)
    plain = MailSettings.from_env(
        {"TASKS_SMTP_URL": "smtp://h:2525?starttls=true", "TASKS_SMTP_FROM": "a@b"}
    )
    assert plain is not None and (plain.port, plain.starttls, plain.sender) == (2525, True, "a@b")
    for bad, message in (
        ("http://h", "TASKS_SMTP_URL must start"),
        ("smtp://", "TASKS_SMTP_URL has no host"),
        ("smtp://h:99999", "TASKS_SMTP_URL has an invalid port"),
    ):
        with pytest.raises(ConfigError, match=message):
            MailSettings.from_env({"TASKS_SMTP_URL": bad})
    with pytest.raises(ConfigError, match="TASKS_SMTP_FROM"):
        MailSettings.from_env({"TASKS_SMTP_URL": "smtp://h", "TASKS_SMTP_FROM": "nobody"})
    with pytest.raises(ConfigError, match="neither smtps:// nor \\?starttls=true"):
        MailSettings.from_env({"TASKS_SMTP_URL": "smtp://u:p@h"})
    relay = MailSettings.from_env({"TASKS_SMTP_URL": "smtp://u:p@h?allow_plaintext_login=true"})
    assert relay is not None and relay.username == "u"


def test_retry_after():
    now = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Thu, 05 Mar 2026 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Thu, 05 Mar 2026 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None


def test_tandoor_shapes():
    with pytest.raises(SyncError, match="results list"):
        parse_page({"count": 1})
    items, more, count = parse_page({"count": 3, "next": "u", "results": [{"id": 1}, "junk"]})
    assert (len(items), more, count) == (1, True, 3)
    props = {
        "properties": [
            {"property_type": {"name": "Calories"}, "property_amount": 410},
            {"property_type": {"name": "Proteins"}, "property_amount": "22"},
            {"property_type": {"name": "Fats"}, "property_amount": None},
        ]
    }
    assert nutrition_of(props) == {
        "calories": 410.0,
        "protein_g": 22.0,
        "carbs_g": None,
        "fat_g": None,
    }
    assert nutrition_of({"nutrition": {"calories": None}}) is None
    assert meal_types_of({"keywords": [{"name": "Snacks"}, {"name": "BREAKFAST"}]}) == (
        "breakfast",
        "snack",
    )
    r = to_recipe({"id": 7, "name": " Soup ", "updated_at": "2026-03-01T10:00:00Z"}, None)
    assert (r.source_id, r.name, r.updated_at) == (
        "7",
        "Soup",
        datetime(2026, 3, 1, 10, tzinfo=UTC),
    )


def test_fatsecret_shapes():
    day = date(2026, 3, 5)
    one = {
        "food_entries": {
            "food_entry": {
                "food_entry_id": "1",
                "food_entry_name": "Egg",
                "meal": "Lunch",
                "calories": "78",
                "fat": "x",
            }
        }
    }
    (entry,) = parse_day(one, day)
    assert (entry.meal_type, entry.calories, entry.fat_g, entry.description) == (
        "lunch",
        78.0,
        0.0,
        "Egg",
    )
    assert parse_day({"food_entries": None}, day) == [] and parse_day({}, day) == []
    with pytest.raises(SyncError, match="FatSecret error 8"):
        parse_day({"error": {"code": 8, "message": "invalid"}}, day)
    settings = FatSecretSettings("https://f.example/api?v=1", "https://f.example/t", "i", "s")
    assert "&method=food_entries.get.v2" in day_url(settings, "p1", day)
    assert "date=20517" in day_url(settings, "p1", day)


def test_diary_days():
    today = date(2026, 3, 10)
    assert diary_days(today, None, 7)[0] == date(2026, 3, 4)
    assert diary_days(today, "2026-03-10", 7) == [date(2026, 3, 9), today]
    assert diary_days(today, "2026-03-01", 7)[0] == date(2026, 3, 4)
    assert diary_days(today, "2026-03-20", 7) == [date(2026, 3, 9), today]
    assert diary_days(today, None, 1) == [today]


def test_next_monday():
    assert next_monday(date(2026, 3, 6)) == date(2026, 3, 9)  # Friday
    assert next_monday(date(2026, 3, 9)) == date(2026, 3, 16)  # Monday: the one after
    assert next_monday(date(2026, 3, 8)) == date(2026, 3, 9)  # Sunday


def test_advisor_arithmetic():
    target = Nutrients(2000, 100, 250, 66.7)
    statuses = assess(Nutrients(2150, 60, 250, 70), target)
    assert [s.verdict for s in statuses] == ["on target", "under", "on target", "on target"]
    assert Status("calories", 2250, 2000).verdict == "over"
    assert subject_for(date(2026, 3, 5), statuses) == "Your day, Thu 5 Mar: under on protein"
    lean = Recipe("lean", "Lean", frozenset({"dinner"}), Nutrients(700, 60, 70, 15))
    fatty = Recipe("fatty", "Fatty", frozenset({"dinner"}), Nutrients(700, 10, 60, 45))
    picks = recommend([fatty, lean], Nutrients(1500, 40, 200, 70), target, ["dinner"])
    assert [r.id for _, r, _ in picks] == ["lean", "fatty"]  # one meal: two options
    assert recommend([lean], Nutrients(), target, ["dinner"], frozenset({"lean"})) == []


def test_plan_adherence_matching():
    day = date(2026, 3, 5)
    planned = [Planned(day, "lunch", "r1", "Soup", 400), Planned(day, "dinner", None, "Pie", 600)]
    logged = [
        Logged(day, "lunch", "r1", "x"),
        Logged(day, "dinner", None, "apple PIE slice"),
        Logged(day, "dinner", None, "pie again"),
    ]
    assert adherence(planned, logged) == (2, 2)
    assert adherence(planned, [Logged(day, "lunch", None, "Pie")]) == (2, 0)


def test_png_writer():
    canvas = Canvas(3, 2)
    canvas.rect(1, 0, 3, 1, (1, 2, 3))
    data = canvas.png()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    ihdr = data[16:29]
    assert struct.unpack(">IIBBBBB", ihdr) == (3, 2, 8, 2, 0, 0, 0)
    idat_len = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41 : 41 + idat_len])
    assert raw == b"\x00\xff\xff\xff\x01\x02\x03\x01\x02\x03" + b"\x00" + b"\xff" * 9
    with pytest.raises(ValueError, match="expected 18 bytes"):
        encode_png(3, 2, b"\x00")
    chart = week_chart([1800, None, 2300, 2000, 0, 1900, 2100], [2000] * 7, 2000)
    assert chart.startswith(b"\x89PNG") and len(chart) < 4000


def test_job_settings_take_the_tasks_prefix_and_refuse_the_old_names():
    from tasks.jobs.settings import JobSettings

    assert JobSettings.from_env({}) == JobSettings(SyncSettings(None, None), None)
    with pytest.raises(ConfigError, match="SMTP_URL is now called TASKS_SMTP_URL"):
        JobSettings.from_env({"SMTP_URL": "smtp://h"})
    with pytest.raises(ConfigError, match="TASKS_TANDOOR_TOKEN is set but empty"):
        JobSettings.from_env({"TASKS_TANDOOR_URL": "https://t", "TASKS_TANDOOR_TOKEN": " "})
    # Empty is not unset: a typo'd deployment is refused, not silently unconfigured.
    with pytest.raises(ConfigError, match="TASKS_SMTP_FROM is set but empty"):
        JobSettings.from_env({"TASKS_SMTP_URL": "smtp://h", "TASKS_SMTP_FROM": ""})
