"""The chaos soak's job type: one line per run in a marks file (the handler's effect)."""

from __future__ import annotations

import os
import time

from tasks import JobContext, job_handler

MARK = "chaos.mark"


@job_handler(MARK)
def mark(ctx: JobContext) -> dict[str, float]:
    """Works for ``seconds``, then records its effect: ``job_id execution_id``.

    The line is written after the work, like a real side effect; one
    ``write`` to an O_APPEND file, so concurrent workers never interleave.
    """
    seconds = float(ctx.parameters.get("seconds", 0.0))
    time.sleep(seconds)
    fd = os.open(os.environ["CHAOS_MARKS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{ctx.job_id} {ctx.execution_id}\n".encode())
    finally:
        os.close(fd)
    return {"seconds": seconds}
