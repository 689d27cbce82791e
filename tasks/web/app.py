"""The dashboard's Starlette application and its server (uvicorn).

Pages are rendered on the server (Jinja2, autoescaped); a page's ``live``
part is fetched again every few seconds by ``static/app.js`` with the
header ``X-Live: 1`` and swapped in place, so pages refresh without a
reload. Endpoints are plain functions: Starlette runs them in its thread
pool, where the synchronous psycopg pool is at home.

Security: read-only unless signed in as the configured admin; the session
cookie is signed (TASKS_WEB_SECRET), HttpOnly and SameSite=strict; every
POST carries the session's CSRF token and, when the browser sends one, an
Origin of this site; responses forbid framing and scripts from elsewhere.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tasks.db import Database
from tasks.errors import ConfigError, NotFound, TasksError
from tasks.ids import EXECUTION_STATUSES, JobStatus, TriggerType
from tasks.metrics import PostgresCollector, registry
from tasks.operator import format_offset, parse_since
from tasks.settings import Settings
from tasks.web import actions, auth, charts, reads

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)
TRIGGER_TYPES: tuple[str, ...] = get_args(TriggerType)
REFRESH_SECONDS = 5
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class Dashboard:
    """The app's state: settings, the read and write pools, templates, metrics."""

    def __init__(self, settings: Settings, now: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.read_db = Database(
            settings.database_url,
            2,
            "meal-scheduler-web",
            role=settings.web_read_role or None,
            custom_plans=True,
        )
        self.write_db = Database(settings.database_url, 1, "meal-scheduler-web-admin")
        self.now = now or (lambda: datetime.now(UTC))
        self.collector = PostgresCollector(self.read_db, settings.redis_url, settings.key_prefix)
        self.registry = registry(self.collector)
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            undefined=StrictUndefined,  # a missing variable is an error, not ""
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["ago"] = self._ago
        self.env.filters["when"] = _when
        self.env.filters["seconds"] = lambda s: "-" if s is None else charts.format_seconds(s)
        self.env.filters["offset"] = format_offset
        self.env.globals["urlencode"] = urlencode

    def _ago(self, moment: datetime | None) -> str:
        if moment is None:
            return "-"
        seconds = (self.now() - moment).total_seconds()
        future = seconds < 0
        seconds = abs(seconds)
        if seconds < 90:
            text = f"{seconds:.0f} s"
        elif seconds < 5400:
            text = f"{seconds / 60:.0f} min"
        elif seconds < 172800:
            text = f"{seconds / 3600:.0f} h"
        else:
            text = f"{seconds / 86400:.0f} d"
        return f"in {text}" if future else f"{text} ago"

    def warm(self) -> None:
        """Load the metrics' totals from the history (once, at start-up)."""
        try:
            self.collector.history.refresh(self.read_db)
        except TasksError:
            log.exception("metrics history not loaded", extra={"action": "metrics_load_failed"})

    def close(self) -> None:
        self.read_db.close()
        self.write_db.close()


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


# ------------------------------------------------------------------ helpers


def _dash(request: Request) -> Dashboard:
    dash: Dashboard = request.app.state.dashboard
    return dash


def _admin(request: Request) -> str | None:
    user = request.session.get("admin")
    return user if isinstance(user, str) else None


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = auth.new_token()
        request.session["csrf"] = token
    return token


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    dash = _dash(request)
    live = request.headers.get("x-live") == "1"
    page = dash.env.get_template(template)
    context.setdefault("error", None)
    context.update(
        request=request,
        admin=_admin(request),
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
    return _dash(request).now() - value


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
    dash = _dash(request)
    now = dash.now()
    data = reads.overview(dash.read_db, dash.settings.redis_url, dash.settings.key_prefix)
    outcomes = reads.outcomes_per_minute(dash.read_db, 60)
    lags = reads.lag_series(dash.read_db, 6)
    return render(
        request,
        "overview.html",
        data=data,
        outcomes_svg=Markup(charts.outcomes_chart(outcomes, now, 60)),  # noqa: S704 - escaped inside
        lag_svg=Markup(charts.lag_chart(lags, now, 6)),  # noqa: S704 - escaped inside
    )


def jobs_page(request: Request) -> Response:
    dash = _dash(request)
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
    dash = _dash(request)
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
    dash = _dash(request)
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
    dash = _dash(request)
    page = reads.audit(
        dash.read_db, target=_text(request, "job"), before_id=_int(request, "before_id")
    )
    return render(request, "audit.html", page=page, next_url=_next_url(request, page.next_cursor))


def metrics_endpoint(request: Request) -> Response:
    dash = _dash(request)
    return Response(generate_latest(dash.registry), media_type=CONTENT_TYPE_LATEST)


# ------------------------------------------------------------------ sign-in and actions


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def login_page(request: Request) -> Response:
    return render(request, "login.html")


async def login_submit(request: Request) -> Response:
    dash = _dash(request)
    form = await _form(request)
    if not _same_origin(request) or not auth.same_token(
        form.get("csrf"), request.session.get("csrf")
    ):
        return PlainTextResponse("refused: missing or wrong CSRF token", status_code=403)
    ok = await run_in_threadpool(
        auth.check_credentials,
        form.get("user", ""),
        form.get("password", ""),
        dash.settings.admin_user,
        dash.settings.admin_password_hash,
    )
    if not ok:
        log.warning("dashboard sign-in refused", extra={"action": "admin_login_refused"})
        return render(request, "login.html", status_code=401, error="wrong user name or password")
    request.session.clear()  # a new session (and CSRF token) after sign-in
    request.session["admin"] = dash.settings.admin_user
    request.session["csrf"] = auth.new_token()
    log.info("dashboard sign-in", extra={"action": "admin_login"})
    return RedirectResponse("/", status_code=303)


async def logout_submit(request: Request) -> Response:
    form = await _form(request)
    if auth.same_token(form.get("csrf"), request.session.get("csrf")):
        request.session.clear()
    return RedirectResponse("/", status_code=303)


async def action_submit(request: Request) -> Response:
    dash = _dash(request)
    action = request.path_params["action"]
    if action not in actions.ACTIONS:
        return PlainTextResponse(f"unknown action {action!r}", status_code=404)
    admin = _admin(request)
    if admin is None:
        return PlainTextResponse("refused: sign in as the admin to act", status_code=403)
    form = await _form(request)
    if not _same_origin(request) or not auth.same_token(
        form.get("csrf"), request.session.get("csrf")
    ):
        return PlainTextResponse("refused: missing or wrong CSRF token", status_code=403)
    job_id = form.get("job_id") or None
    client = request.client.host if request.client else None
    outcome = await run_in_threadpool(actions.run, dash.write_db, action, job_id, admin, client)
    request.session["flash"] = {"ok": outcome.done, "message": outcome.message}
    back = form.get("next", "/")
    if not back.startswith("/") or back.startswith("//"):
        back = "/"
    return RedirectResponse(back, status_code=303)


# ------------------------------------------------------------------ app


async def _errors(request: Request, exc: Exception) -> Response:
    if isinstance(exc, NotFound):
        return render(request, "error.html", status_code=404, error=str(exc))
    if isinstance(exc, ConfigError):
        return render(request, "error.html", status_code=400, error=str(exc))
    log.warning("dashboard request failed", extra={"action": "web_error", "error": str(exc)})
    return render(request, "error.html", status_code=503, error=str(exc))


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers.extend(
                    (k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                )
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _lifespan(dash: Dashboard) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        threading.Thread(target=dash.warm, name="metrics-load", daemon=True).start()
        yield
        dash.close()

    return lifespan


def create_app(settings: Settings, now: Callable[[], datetime] | None = None) -> Starlette:
    dash = Dashboard(settings, now)
    secret = settings.web_secret
    if secret is None:
        # Sessions then last as long as the process: signing in again after a
        # restart is the price of not configuring a key.
        secret = secrets.token_urlsafe(32)
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {TasksError: _errors}
    app = Starlette(
        routes=[
            Route("/", overview_page),
            Route("/jobs", jobs_page),
            Route("/jobs/{job_id:path}", job_page),
            Route("/runs", runs_page),
            Route("/failures", runs_page),
            Route("/audit", audit_page),
            Route("/metrics", metrics_endpoint),
            Route("/login", login_page, methods=["GET"]),
            Route("/login", login_submit, methods=["POST"]),
            Route("/logout", logout_submit, methods=["POST"]),
            Route("/actions/{action}", action_submit, methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie="meal_scheduler_session",
                max_age=8 * 3600,
                same_site="strict",
            ),
        ],
        exception_handlers=handlers,
        lifespan=_lifespan(dash),
    )
    app.state.dashboard = dash
    return app


def serve(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    app = create_app(settings)
    shown = f"[{host}]" if ":" in host else host
    print(f"dashboard on http://{shown}:{port}/ (Prometheus metrics at /metrics)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    return 0
