"""The dashboard's pages: one endpoint per page, rendered on the server.

Each reads through the read pool (``meal_scheduler_readonly``) via
:mod:`tasks.web.reads`; :func:`render` adds what every page needs (the
signed-in admin, the CSRF token, a one-shot message) and, for ``X-Live: 1``
requests, returns only the page's ``live`` block (``static/app.js``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, get_args
from urllib.parse import urlencode

from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from tasks.errors import ConfigError, NotFound
from tasks.ids import EXECUTION_STATUSES, JobStatus, TriggerType
from tasks.operator import parse_since
from tasks.web import auth, charts, reads

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from tasks.web.app import Dashboard

JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)
TRIGGER_TYPES: tuple[str, ...] = get_args(TriggerType)
REFRESH_SECONDS = 5

# ------------------------------------------------------------------ helpers


def dashboard_of(request: Request) -> Dashboard:
    dash: Dashboard = request.app.state.dashboard
    return dash


def signed_in_admin(request: Request) -> str | None:
    user = request.session.get("admin")
    return user if isinstance(user, str) else None


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = auth.new_token()
        request.session["csrf"] = token
    return token


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    dash = dashboard_of(request)
    live = request.headers.get("x-live") == "1"
    page = dash.env.get_template(template)
    context.setdefault("error", None)
    context.update(
        request=request,
        admin=signed_in_admin(request),
        admin_configured=dash.settings.admin_user is not None,
        csrf=_csrf(request),
        flash=request.session.pop("flash", None),
        now=dash.now(),
        refresh=REFRESH_SECONDS,
        path=request.url.path,
        query=str(request.url.query),
    )
    if live:  # only the live block: app.js swaps it in
        block = page.blocks.get("live")
        if block is None:
            return HTMLResponse("", status_code=204)
        html = "".join(block(page.new_context(context)))
        return HTMLResponse(html, status_code=status_code)
    return HTMLResponse(page.render(context), status_code=status_code)


def _text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value or None


def _choice(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    value = _text(request, name)
    if value is not None and value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _int(request: Request, name: str) -> int | None:
    value = _text(request, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None


def _before(request: Request) -> tuple[datetime, int] | None:
    at, ex_id = _text(request, "before_at"), _int(request, "before_id")
    if at is None or ex_id is None:
        return None
    try:
        return datetime.fromisoformat(at), ex_id
    except ValueError:
        raise ConfigError(f"before_at must be an ISO time, got {at!r}") from None


def _since(request: Request) -> datetime | None:
    text = _text(request, "since")
    if text is None:
        return None
    value = parse_since("since", text)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return dashboard_of(request).now() - value


def _next_url(request: Request, cursor: dict[str, str] | None) -> str | None:
    if cursor is None:
        return None
    keep = {
        k: v
        for k, v in request.query_params.items()
        if k not in ("after", "before_at", "before_id") and v
    }
    return f"{request.url.path}?{urlencode({**keep, **cursor})}"


# ------------------------------------------------------------------ pages


def overview_page(request: Request) -> Response:
    dash = dashboard_of(request)
    now = dash.now()
    data = reads.overview(
        dash.read_db, dash.settings.redis_url, dash.settings.key_prefix, dash.live_seconds
    )
    outcomes = reads.outcomes_per_minute(dash.read_db, 60)
    lags = reads.lag_series(dash.read_db, 6)
    return render(
        request,
        "overview.html",
        data=data,
        live_seconds=dash.live_seconds,
        outcomes_svg=Markup(charts.outcomes_chart(outcomes, now, 60)),  # noqa: S704 - escaped inside
        lag_svg=Markup(charts.lag_chart(lags, now, 6)),  # noqa: S704 - escaped inside
    )


def jobs_page(request: Request) -> Response:
    dash = dashboard_of(request)
    enabled_text = _choice(request, "enabled", ("yes", "no"))
    filters = {
        "type": _text(request, "type"),
        "status": _choice(request, "status", JOB_STATUSES),
        "user": _int(request, "user"),
        "enabled": enabled_text,
    }
    page = reads.jobs(
        dash.read_db,
        job_type=filters["type"],  # type: ignore[arg-type]
        status=filters["status"],  # type: ignore[arg-type]
        user_id=filters["user"],  # type: ignore[arg-type]
        enabled=None if enabled_text is None else enabled_text == "yes",
        after_id=_text(request, "after"),
    )
    return render(
        request,
        "jobs.html",
        page=page,
        filters=filters,
        job_types=reads.job_types(dash.read_db),
        statuses=JOB_STATUSES,
        next_url=_next_url(request, page.next_cursor),
    )


def job_page(request: Request) -> Response:
    dash = dashboard_of(request)
    job_id = request.path_params["job_id"]
    data = reads.job_page(dash.read_db, job_id, before=_before(request))
    return render(
        request,
        "job.html",
        data=data,
        job=data.detail.job,
        next_url=_next_url(request, data.runs.next_cursor),
    )


def runs_page(request: Request) -> Response:
    dash = dashboard_of(request)
    failures = request.url.path.rstrip("/").endswith("failures")
    statuses = ("failed", "abandoned") if failures else EXECUTION_STATUSES
    filters = {
        "job": _text(request, "job"),
        "type": _text(request, "type"),
        "status": _choice(request, "status", statuses),
        "trigger": None if failures else _choice(request, "trigger", TRIGGER_TYPES),
        "since": _text(request, "since"),
    }
    since = _since(request)
    if failures:
        page = reads.failures(
            dash.read_db,
            job_id=filters["job"],
            job_type=filters["type"],
            status=filters["status"],
            since=since,
            before=_before(request),
        )
    else:
        page = reads.runs(
            dash.read_db,
            job_id=filters["job"],
            job_type=filters["type"],
            status=filters["status"],
            trigger_type=filters["trigger"],
            since=since,
            before=_before(request),
        )
    return render(
        request,
        "runs.html",
        failures=failures,
        page=page,
        filters=filters,
        statuses=statuses,
        triggers=TRIGGER_TYPES,
        job_types=reads.job_types(dash.read_db),
        next_url=_next_url(request, page.next_cursor),
    )


def audit_page(request: Request) -> Response:
    dash = dashboard_of(request)
    page = reads.audit(
        dash.read_db, target=_text(request, "job"), before_id=_int(request, "before_id")
    )
    return render(request, "audit.html", page=page, next_url=_next_url(request, page.next_cursor))


def metrics_endpoint(request: Request) -> Response:
    dash = dashboard_of(request)
    return Response(generate_latest(dash.registry), media_type=CONTENT_TYPE_LATEST)


async def errors(request: Request, exc: Exception) -> Response:
    if isinstance(exc, NotFound):
        return render(request, "error.html", status_code=404, error=str(exc))
    if isinstance(exc, ConfigError):
        return render(request, "error.html", status_code=400, error=str(exc))
    log.warning("dashboard request failed", extra={"action": "web_error", "error": str(exc)})
    return render(request, "error.html", status_code=503, error=str(exc))
