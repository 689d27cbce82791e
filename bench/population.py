"""``python -m bench population``: N users over real zones, as the app would hold them.

Everything is set-based (one ``INSERT ... SELECT generate_series`` per table),
so a million users is a handful of statements, not a million round trips:

* users, spread over :data:`ZONES` in those proportions exactly (largest
  remainder), interleaved on the heap (user i's zone comes from a fixed
  permutation of 0..N-1, not from blocks of ids);
* their per-user jobs, two ways, each timed: the first ``trigger_sample``
  users are inserted with the users trigger on (what a sign-up costs), the
  rest with it off (``SET LOCAL meal_scheduler.user_jobs = 'off'``) and then
  ``install_default_jobs_v1`` (``python -m tasks jobs install-defaults``) in
  one statement;
* preferences (a share opted in to the advisor email and the weekly trends),
  a recipe catalog and a food log (a share of users logging three meals a
  day over the last days).

:func:`populate` works on any migrated database (the tests call it on
theirs); :func:`run` makes a throwaway one, reports, and drops it unless
``--keep``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from bench.infra import Conn
from bench.procstat import cpu_seconds

#: Where the users live: real IANA zones in rough proportion to a consumer
#: app's audience (North America and Europe heavy, India and Brazil large),
#: with the awkward ones included: half- and quarter-hour offsets
#: (Kolkata, Kathmandu, Adelaide), southern-hemisphere DST (Sydney, Sao
#: Paulo has none since 2019, Auckland), no DST (Tokyo, Kolkata, Phoenix).
ZONES: tuple[tuple[str, float], ...] = (
    ("America/New_York", 0.14),
    ("America/Chicago", 0.07),
    ("America/Denver", 0.02),
    ("America/Phoenix", 0.01),
    ("America/Los_Angeles", 0.08),
    ("America/Toronto", 0.03),
    ("America/Mexico_City", 0.03),
    ("America/Sao_Paulo", 0.05),
    ("America/Argentina/Buenos_Aires", 0.01),
    ("Europe/London", 0.08),
    ("Europe/Berlin", 0.08),
    ("Europe/Paris", 0.05),
    ("Europe/Madrid", 0.03),
    ("Europe/Rome", 0.02),
    ("Europe/Warsaw", 0.02),
    ("Africa/Lagos", 0.01),
    ("Africa/Johannesburg", 0.01),
    ("Asia/Dubai", 0.01),
    ("Asia/Kolkata", 0.09),
    ("Asia/Kathmandu", 0.005),
    ("Asia/Singapore", 0.015),
    ("Asia/Shanghai", 0.02),
    ("Asia/Tokyo", 0.04),
    ("Australia/Sydney", 0.025),
    ("Australia/Adelaide", 0.005),
    ("Pacific/Auckland", 0.01),
    ("UTC", 0.01),
)

MEAL_TYPES = ("breakfast", "lunch", "dinner", "snack")


@dataclass(frozen=True)
class PopulationSpec:
    users: int
    recipes: int = 400
    trigger_sample: int = 1000
    advisor_share: float = 0.4
    trends_share: float = 0.3
    log_share: float = 0.3
    log_days: int = 7


def zone_counts(users: int) -> list[tuple[str, int]]:
    """Users per zone: exact proportions of :data:`ZONES`, largest remainder."""
    total = sum(w for _, w in ZONES)
    raw = [(zone, users * w / total) for zone, w in ZONES]
    counts = {zone: int(share) for zone, share in raw}
    left = users - sum(counts.values())
    for zone, _share in sorted(raw, key=lambda r: (r[1] - int(r[1]), r[0]), reverse=True)[:left]:
        counts[zone] += 1
    return [(zone, counts[zone]) for zone, _ in ZONES]


def _stride(n: int) -> int:
    """A step coprime to n: i -> (i * step) mod n is then a permutation of 0..n-1."""
    for step in (7919, 7907, 7901, 104729):
        if n % step:
            return step
    return 1


#: Postgres CPU seconds per step (the backend's, from /proc): on a shared
#: machine wall time also counts everyone else's load.
_backend_cpu: dict[str, float] = {}


def _timed(conn: Conn, sql: str, params: dict[str, Any], step: str = "") -> tuple[float, int]:
    pid = conn.info.backend_pid
    cpu0 = cpu_seconds(pid, with_reaped_children=False)
    t0 = time.perf_counter()
    cur = conn.execute(sql, params)
    wall = time.perf_counter() - t0
    if step:
        _backend_cpu[step] = cpu_seconds(pid, with_reaped_children=False) - cpu0
    return wall, cur.rowcount


INSERT_USERS = """
INSERT INTO users (id, email, timezone)
SELECT %(base)s + 1 + g.i, 'pop' || (%(base)s + 1 + g.i)::text || '@users.example', z.zone
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g(i)
JOIN unnest(%(zones)s::text[], %(lo)s::bigint[], %(hi)s::bigint[]) AS z(zone, lo, hi)
  ON (g.i * %(stride)s + 13) %% %(n)s >= z.lo AND (g.i * %(stride)s + 13) %% %(n)s < z.hi
"""

INSERT_RECIPES = """
INSERT INTO recipes (id, name, meal_types, calories, protein_g, carbs_g, fat_g, source, source_id)
SELECT 'pop:' || g.i, 'Recipe ' || g.i,
       CASE g.i %% 4
           WHEN 0 THEN ARRAY['breakfast']::meal_type[]
           WHEN 1 THEN ARRAY['lunch', 'dinner']::meal_type[]
           WHEN 2 THEN ARRAY['dinner']::meal_type[]
           ELSE ARRAY['lunch', 'snack']::meal_type[] END,
       250 + (g.i * 37) %% 600, 10 + (g.i * 7) %% 40, 20 + (g.i * 11) %% 80,
       5 + (g.i * 5) %% 35, 'population', g.i::text
FROM generate_series(1, %(recipes)s::integer) AS g(i)
ON CONFLICT DO NOTHING
"""

INSERT_PREFERENCES = """
INSERT INTO user_preferences (user_id, calorie_target, advisor_email, weekly_trends)
SELECT u.id, 1600 + (u.id * 53) %% 1400,
       (u.id * 31) %% 1000 < %(advisor)s * 1000, (u.id * 17) %% 1000 < %(trends)s * 1000
FROM users u
WHERE u.id > %(base)s AND u.id <= %(base)s + %(n)s
"""

INSERT_FOOD_LOG = """
INSERT INTO food_log (user_id, day, meal_type, description, recipe_id, calories, protein_g,
                      carbs_g, fat_g)
SELECT u.id, (%(now)s::timestamptz AT TIME ZONE u.timezone)::date - d.k, m.meal,
       r.name, r.id, r.calories, r.protein_g, r.carbs_g, r.fat_g
FROM users u
CROSS JOIN generate_series(1, %(days)s::integer) AS d(k)
CROSS JOIN unnest(ARRAY['breakfast', 'lunch', 'dinner']::meal_type[]) WITH ORDINALITY AS m(meal, o)
JOIN recipes r ON r.id = 'pop:' || (1 + (u.id * 13 + d.k * 7 + m.o * 3) %% %(recipes)s)
WHERE u.id > %(base)s AND u.id <= %(base)s + %(n)s
  AND (u.id * 7) %% 1000 < %(share)s * 1000
"""


def populate(conn: Conn, spec: PopulationSpec, now: datetime | None = None) -> dict[str, Any]:
    """Add ``spec.users`` users (ids after the largest one) and everything they need.

    ``conn`` is autocommit, connected as the database owner; ``now`` fixes
    the clock the jobs are scheduled from (default: the database's).
    """
    n = spec.users
    if n <= 0:
        raise ValueError("users must be positive")
    at = now or conn.execute("SELECT now() AS now").fetchone()["now"]  # type: ignore[index]
    base = conn.execute("SELECT coalesce(max(id), 0) AS m FROM users").fetchone()["m"]  # type: ignore[index]
    counts = zone_counts(n)
    zones, lo, hi, start = [], [], [], 0
    for zone, count in counts:
        zones.append(zone)
        lo.append(start)
        hi.append(start + count)
        start += count
    users_sql = {"base": base, "zones": zones, "lo": lo, "hi": hi, "stride": _stride(n), "n": n}
    timings: dict[str, float] = {}

    t, _ = _timed(conn, INSERT_RECIPES, {"recipes": spec.recipes})
    timings["recipes_s"] = t

    sample = min(spec.trigger_sample, n)
    if sample:
        # Sign-ups: the users trigger creates each user's three jobs.
        timings["users_with_trigger_s"], _ = _timed(
            conn, INSERT_USERS, {**users_sql, "first": 0, "last": sample - 1}, "users_with_trigger"
        )
    timings["users_bulk_s"] = 0.0
    timings["install_defaults_s"] = 0.0
    if n > sample:
        with conn.transaction():
            conn.execute("SET LOCAL meal_scheduler.user_jobs = 'off'")
            timings["users_bulk_s"], _ = _timed(
                conn, INSERT_USERS, {**users_sql, "first": sample, "last": n - 1}, "users_bulk"
            )
        timings["install_defaults_s"], _ = _timed(
            conn, "SELECT * FROM install_default_jobs_v1(%(now)s)", {"now": at}, "install_defaults"
        )
    conn.execute(
        "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))"
    )
    timings["preferences_s"], _ = _timed(
        conn,
        INSERT_PREFERENCES,
        {"base": base, "n": n, "advisor": spec.advisor_share, "trends": spec.trends_share},
    )
    timings["food_log_s"], food_rows = _timed(
        conn,
        INSERT_FOOD_LOG,
        {
            "base": base,
            "n": n,
            "now": at,
            "days": spec.log_days,
            "share": spec.log_share,
            "recipes": spec.recipes,
        },
    )
    t0 = time.perf_counter()
    conn.execute("VACUUM ANALYZE users")
    conn.execute("VACUUM ANALYZE scheduled_jobs")
    conn.execute("ANALYZE food_log")
    timings["analyze_s"] = time.perf_counter() - t0

    jobs = conn.execute(
        "SELECT count(*) AS c FROM scheduled_jobs WHERE user_id > %s AND user_id <= %s",
        (base, base + n),
    ).fetchone()["c"]  # type: ignore[index]
    bulk = n - sample
    cpu = dict(_backend_cpu)
    _backend_cpu.clear()
    result: dict[str, Any] = {
        "spec": asdict(spec),
        "now": at.astimezone(UTC).isoformat(),
        "first_user_id": base + 1,
        "zones": dict(counts),
        "jobs": jobs,
        "food_log_rows": food_rows,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "total_s": round(sum(timings.values()), 2),
        # The users insert alone includes the zone-validation trigger; the
        # sign-up path adds the users trigger (ensure_user_jobs_v1, 3 jobs).
        "per_user_ms": {
            "insert_bulk": round(1000 * timings["users_bulk_s"] / bulk, 4) if bulk else None,
            "insert_with_trigger": (
                round(1000 * timings["users_with_trigger_s"] / sample, 4) if sample else None
            ),
            "install_defaults": (
                round(1000 * timings["install_defaults_s"] / bulk, 4) if bulk else None
            ),
        },
        # The same, counting only the Postgres backend's CPU time.
        "per_user_cpu_ms": {
            "insert_bulk": round(1000 * cpu["users_bulk"] / bulk, 4) if bulk else None,
            "insert_with_trigger": (
                round(1000 * cpu["users_with_trigger"] / sample, 4) if sample else None
            ),
            "install_defaults": round(1000 * cpu["install_defaults"] / bulk, 4) if bulk else None,
        },
    }
    return result
