"""``daily_advisor`` (20:00 in the user's zone): how today went, and what next.

Reads the day's ``food_log`` (the user's local date of the run's reference
time, or ``parameters.day``) and the user's targets; writes one email (text
and HTML) and one ``advisor_emails`` row. Users who did not opt in
(``user_preferences.advisor_email``) and days with nothing logged are
skipped, and the output says why.

What the email says:

* per nutrient: eaten, target, difference; "over"/"under" when more than
  10% off, else "on target";
* 2-3 catalog recipes for tomorrow that close the gap, one per main meal
  the user plans (breakfast, lunch, dinner; two options when only one is
  planned). Each is the recipe closest to a *nudged meal*: that meal's
  share of the day's targets (as in planning: 25/35/40/10%) plus its share
  of today's shortfall (or minus the excess), the nudge capped at half the
  meal, so one big day never asks for a starvation meal. Closest = lowest
  sum of squared relative differences over calories and macros, ties by id;
  recipes eaten today are left out.

Sending exactly once: the row (user, day) is claimed as ``sending`` before
the SMTP call and marked ``sent`` after it. A retry that finds ``sent`` does
nothing. One that finds ``sending`` (a worker lost mid-send, result unknown)
does not send either: a missed email is better than a double one. A refused
send is marked ``failed`` and raises, so Postgres retries it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tasks.handlers import JobContext, job_handler
from tasks.jobs import mail
from tasks.jobs.common import param_date, planning_context, short_error
from tasks.jobs.generation import DEFAULT_MEAL_TYPES, load_catalog
from tasks.jobs.nutrition import (
    NUTRIENTS,
    Nutrients,
    meal_shares,
    targets_from_preferences,
    total,
)
from tasks.jobs.planner import Recipe
from tasks.jobs.settings import job_settings

TOLERANCE = 0.10
RECOMMENDATIONS = 3  # at most one per main meal
LABELS: dict[str, tuple[str, str]] = {
    "calories": ("Calories", "kcal"),
    "protein_g": ("Protein", "g"),
    "carbs_g": ("Carbs", "g"),
    "fat_g": ("Fat", "g"),
}


@dataclass(frozen=True)
class Status:
    nutrient: str
    eaten: float
    target: float

    @property
    def diff(self) -> float:
        return self.eaten - self.target

    @property
    def pct(self) -> float:
        return 100.0 * self.diff / self.target if self.target else 0.0

    @property
    def verdict(self) -> str:
        if self.pct > 100 * TOLERANCE:
            return "over"
        if self.pct < -100 * TOLERANCE:
            return "under"
        return "on target"

    def to_json(self) -> dict[str, Any]:
        return {
            "eaten": round(self.eaten, 1),
            "target": round(self.target, 1),
            "diff": round(self.diff, 1),
            "pct": round(self.pct, 1),
            "verdict": self.verdict,
        }


def assess(eaten: Nutrients, target: Nutrients) -> list[Status]:
    return [Status(n, eaten.get(n), target.get(n)) for n in NUTRIENTS]


def recommend(
    catalog: Sequence[Recipe],
    eaten: Nutrients,
    target: Nutrients,
    meal_types: Sequence[str],
    exclude: frozenset[str] = frozenset(),
) -> list[tuple[str, Recipe, float]]:
    """(meal type, recipe, score) for tomorrow: one per main meal, 2-3 in all."""
    shares = meal_shares(meal_types)
    meals = [m for m in shares if m != "snack"][:RECOMMENDATIONS] or list(shares)[:1]
    if len(meals) == 1:
        meals = meals * 2  # one planned meal: offer two options for it
    picks: list[tuple[str, Recipe, float]] = []
    taken = set(exclude)
    for meal in meals:
        portion = target.scale(shares[meal])
        desired = {}
        for n in NUTRIENTS:
            cap = portion.get(n) / 2
            nudge = shares[meal] * (target.get(n) - eaten.get(n))
            desired[n] = portion.get(n) + max(-cap, min(cap, nudge))
        scored = sorted(
            (
                sum(
                    ((r.nutrients.get(n) - desired[n]) / portion.get(n)) ** 2
                    for n in NUTRIENTS
                    if portion.get(n) > 0
                ),
                r.id,
                r,
            )
            for r in catalog
            if meal in r.meal_types and r.id not in taken
        )
        if scored:
            score, _, best = scored[0]
            picks.append((meal, best, score))
            taken.add(best.id)
    return picks


def _fmt(value: float) -> str:
    return f"{value:,.0f}"


def subject_for(day: date, statuses: Sequence[Status]) -> str:
    """Short enough for one header line: 'Your day, Thu 5 Mar: under on protein; over on fat'."""
    groups = []
    for verdict in ("under", "over"):
        names = [LABELS[s.nutrient][0].lower() for s in statuses if s.verdict == verdict]
        if names:
            groups.append(f"{verdict} on {', '.join(names)}")
    when = day.strftime("%a %d %b").replace(" 0", " ")
    return f"Your day, {when}: " + ("; ".join(groups) or "on target")


def render(
    day: date,
    statuses: Sequence[Status],
    picks: Sequence[tuple[str, Recipe, float]],
    entries: int,
) -> tuple[str, str]:
    """(text, html) of the email."""
    lines = [f"Your day, {day.isoformat()} ({entries} logged item(s)):", ""]
    for s in statuses:
        label, unit = LABELS[s.nutrient]
        lines.append(
            f"  {label:<9}{_fmt(s.eaten):>7} {unit:<4} of {_fmt(s.target):>6} {unit:<4}"
            f" {s.diff:+,.0f} {unit} ({s.pct:+.0f}%)  {s.verdict}"
        )
    lines += ["", "For tomorrow, recipes that close the gap:"]
    for meal, recipe, _ in picks:
        n = recipe.nutrients
        lines.append(
            f"  - {meal}: {recipe.name}: {_fmt(n.calories)} kcal, {_fmt(n.protein_g)} g protein, "
            f"{_fmt(n.carbs_g)} g carbs, {_fmt(n.fat_g)} g fat"
        )
    if not picks:
        lines.append("  (the recipe catalog is empty)")
    lines += ["", "Targets and meal types can be changed in your preferences."]
    text = "\n".join(lines) + "\n"

    cells = []
    for s in statuses:
        label, unit = LABELS[s.nutrient]
        cells.append(
            f"<tr><td>{label}</td><td align='right'>{_fmt(s.eaten)} {unit}</td>"
            f"<td align='right'>{_fmt(s.target)} {unit}</td>"
            f"<td align='right'>{s.diff:+,.0f} {unit} ({s.pct:+.0f}%)</td>"
            f"<td><b>{s.verdict}</b></td></tr>"
        )
    rows = "".join(cells)
    items = "".join(
        f"<li>{meal}: {html.escape(r.name)}: {_fmt(r.nutrients.calories)} kcal, "
        f"{_fmt(r.nutrients.protein_g)} g protein, {_fmt(r.nutrients.carbs_g)} g carbs, "
        f"{_fmt(r.nutrients.fat_g)} g fat</li>"
        for meal, r, _ in picks
    )
    body = (
        f"<p>Your day, {day.isoformat()} ({entries} logged item(s)):</p>"
        "<table cellpadding='4'><tr><th></th><th>Eaten</th><th>Target</th><th>Difference</th>"
        f"<th></th></tr>{rows}</table>"
        f"<p>For tomorrow, recipes that close the gap:</p><ul>{items}</ul>"
        "<p>Targets and meal types can be changed in your preferences.</p>"
    )
    return text, f"<html><body>{body}</body></html>"


@job_handler("daily_advisor")
def daily_advisor(ctx: JobContext) -> dict[str, Any]:
    db, user_id, user = planning_context(ctx)
    if user is None:
        return {"user_id": user_id, "sent": False, "reason": "user does not exist"}
    day = param_date(ctx.parameters, "day") or user["local_date"]
    out: dict[str, Any] = {"user_id": user_id, "day": day.isoformat()}
    if not user["advisor_email"]:
        return {**out, "sent": False, "reason": "user has not opted in to the advisor email"}
    if not user["recipient"]:
        return {**out, "sent": False, "reason": "user has no email address"}

    rows = db.many("food_log_day", user_id=user_id, day=day)
    if not rows:
        return {**out, "sent": False, "reason": "nothing logged for this day"}
    eaten = total(Nutrients.from_row(r) for r in rows)
    target = targets_from_preferences(user)
    statuses = assess(eaten, target)
    catalog, _ = load_catalog(db)
    meal_types = user["meal_types"] or DEFAULT_MEAL_TYPES
    eaten_ids = frozenset(r["recipe_id"] for r in rows if r["recipe_id"])
    picks = recommend(catalog, eaten, target, meal_types, eaten_ids)
    summary = {
        "entries": len(rows),
        "nutrients": {s.nutrient: s.to_json() for s in statuses},
        "recommendations": [
            {"meal_type": meal, "recipe_id": r.id, "name": r.name, "score": round(score, 3)}
            for meal, r, score in picks
        ],
        "for_day": (day + timedelta(days=1)).isoformat(),
    }
    out.update(summary)

    settings = job_settings().mail
    subject = subject_for(day, statuses)
    text, body = render(day, statuses, picks, len(rows))
    if settings is None:
        # Nothing is sent; the email is kept in the output so it can be read.
        return {
            **out,
            "sent": False,
            "reason": "TASKS_SMTP_URL is not set; email not sent",
            "email": {"subject": subject, "text": text},
        }
    msg_id = mail.message_id("advisor", f"{user_id}.{day.isoformat()}", settings.sender)
    claimed = db.one(
        "claim_advisor_email",
        user_id=user_id,
        day=day,
        message_id=msg_id,
        recipient=user["recipient"],
        subject=subject,
        summary=json.dumps(summary),
    )
    if claimed is None:
        prior = db.one("advisor_email_for_day", user_id=user_id, day=day)
        status = prior["status"] if prior else "unknown"
        reason = (
            f"already sent at {prior['sent_at'].isoformat()}"
            if prior and status == "sent"
            else "an earlier attempt stopped while sending; not sending again (at most once)"
        )
        return {**out, "sent": False, "reason": reason, "message_id": msg_id}
    message = mail.build_message(settings.sender, user["recipient"], subject, text, body, msg_id)
    try:
        mail.send(settings, message)
    except Exception as exc:
        db.exec("mark_advisor_email_failed", user_id=user_id, day=day, error=short_error(exc))
        raise
    db.exec("mark_advisor_email_sent", user_id=user_id, day=day)
    return {
        **out,
        "sent": True,
        "recipient": user["recipient"],
        "subject": subject,
        "message_id": msg_id,
        "attempt": claimed["attempts"],
    }
