"""Helpers shared by the test_jobs_* modules (no tests here).

Named test_jobs_* only because that is the file pattern the meal-planner
jobs own in this tree; pytest collects it and finds nothing to run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import psycopg

from tasks.db import Database
from tasks.handlers import JobContext
from tasks.ids import ExecutionId, JobId, TriggerType, UserId

Conn = psycopg.Connection[dict[str, Any]]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make_ctx(
    database: Database,
    job_type: str,
    user_id: int | None,
    scheduled_for: datetime | None = None,
    parameters: dict[str, Any] | None = None,
    trigger_type: TriggerType = "scheduled",
    job_id: str | None = None,
) -> JobContext:
    params = parameters if parameters is not None else {}
    if user_id is not None:
        params = {"user_id": user_id, **params}
    return JobContext(
        job_id=JobId(job_id or f"{job_type}:user:{user_id}"),
        job_type=job_type,
        user_id=UserId(user_id) if user_id is not None else None,
        parameters=params,
        execution_id=ExecutionId(1),
        attempt_number=1,
        trigger_type=trigger_type,
        scheduled_for=scheduled_for,
        db=database,
    )


def add_user(db: Conn, email: str, timezone: str = "UTC", **prefs: Any) -> int:
    row = db.execute(
        "INSERT INTO users (email, timezone) VALUES (%s, %s) RETURNING id", (email, timezone)
    ).fetchone()
    assert row is not None
    user_id = int(row["id"])
    if prefs:
        cols = ["user_id", *prefs]
        vals = ["%s"] * len(cols)
        db.execute(
            f"INSERT INTO user_preferences ({', '.join(cols)}) VALUES ({', '.join(vals)})",
            [user_id, *prefs.values()],
        )
    return user_id


def add_recipe(
    db: Conn,
    recipe_id: str,
    meal_types: list[str],
    calories: float,
    protein: float = 0,
    carbs: float = 0,
    fat: float = 0,
    name: str | None = None,
) -> None:
    db.execute(
        """INSERT INTO recipes (id, name, meal_types, calories, protein_g, carbs_g, fat_g)
           VALUES (%s, %s, %s::meal_type[], %s, %s, %s, %s)""",
        (recipe_id, name or recipe_id, meal_types, calories, protein, carbs, fat),
    )


def log_food(
    db: Conn,
    user_id: int,
    day: date,
    meal_type: str,
    calories: float,
    protein: float = 0,
    carbs: float = 0,
    fat: float = 0,
    description: str = "food",
    recipe_id: str | None = None,
) -> None:
    db.execute(
        """INSERT INTO food_log (user_id, day, meal_type, description, recipe_id,
                                 calories, protein_g, carbs_g, fat_g)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (user_id, day, meal_type, description, recipe_id, calories, protein, carbs, fat),
    )
