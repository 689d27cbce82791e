"""The meal-scheduler benchmark suite: ``python -m bench``.

Run by hand for its numbers (docs/performance.md has the method and the
latest results); a tiny ``--quick`` run is in the tests so it cannot rot.

Sections (``--only`` picks some):

``e2e``       N no-op jobs due at once through beat -> Redis -> worker ->
              Postgres, against plain Celery running the same no-op task
              with the same broker, pool and concurrency.
``dispatch``  the beat alone (claim + publish, no worker): jobs/s.
``lifecycle`` each statement of a job's life alone: wall and backend CPU.
``claim``     claim cost with ``--claim-rows`` rows in scheduled_jobs.
``lag``       scheduled_for -> started and manual trigger -> started.

``python -m bench chaos --minutes N [--seed S]`` is the chaos soak (bench/chaos.py,
docs/reliability.md): on a Postgres and a Redis of its own, not the local ones.

Everything else runs on the local Postgres and Redis (``BENCH_DATABASE_URL``,
``BENCH_REDIS_URL``), in throwaway ``bench_*`` databases and Redis db
numbers 12-15, all dropped or flushed at the end.
"""

from __future__ import annotations
