"""Sign-in, sign-out and the admin's actions (POST only, CSRF-checked).

A request that is not from the signed-in admin, or whose form lacks the
session's CSRF token, or whose ``Origin`` is another site, is refused with
403 before anything is read from the form's other fields. Actions run on the
write pool through :mod:`tasks.web.actions` (change + audit row, one
transaction).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from tasks.web import actions, auth
from tasks.web.pages import dashboard_of, render, signed_in_admin

log = logging.getLogger(__name__)


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
    dash = dashboard_of(request)
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
    dash = dashboard_of(request)
    action = request.path_params["action"]
    if action not in actions.ACTIONS:
        return PlainTextResponse(f"unknown action {action!r}", status_code=404)
    admin = signed_in_admin(request)
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
