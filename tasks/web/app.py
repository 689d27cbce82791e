"""The dashboard's Starlette application and its server (uvicorn).

Pages are rendered on the server (Jinja2, autoescaped); a page's ``live``
part is fetched again every few seconds by ``static/app.js`` with the
header ``X-Live: 1`` and swapped in place, so pages refresh without a
reload. Pages are in ``pages``, sign-in and actions in ``admin``.
Endpoints are plain functions: Starlette runs them in its thread pool, where
the synchronous psycopg pool is at home.

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
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tasks.db import Database
from tasks.errors import TasksError
from tasks.metrics import PostgresCollector, registry
from tasks.operator import format_offset
from tasks.settings import Settings
from tasks.web import admin, charts, pages, reads

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
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
        self.live_seconds = reads.live_window(settings)
        self.collector = PostgresCollector(
            self.read_db, settings.redis_url, settings.key_prefix, self.live_seconds
        )
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
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        TasksError: pages.errors
    }
    app = Starlette(
        routes=[
            Route("/", pages.overview_page),
            Route("/jobs", pages.jobs_page),
            Route("/jobs/{job_id:path}", pages.job_page),
            Route("/runs", pages.runs_page),
            Route("/failures", pages.runs_page),
            Route("/audit", pages.audit_page),
            Route("/metrics", pages.metrics_endpoint),
            Route("/login", admin.login_page, methods=["GET"]),
            Route("/login", admin.login_submit, methods=["POST"]),
            Route("/logout", admin.logout_submit, methods=["POST"]),
            Route("/actions/{action}", admin.action_submit, methods=["POST"]),
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
