"""A small JSON-over-HTTP client (urllib) with bounded, honest retries.

Retried inside the job's attempt, never forever:

* 429 Too Many Requests: wait what ``Retry-After`` says (seconds or an HTTP
  date); without the header, back off like a 5xx.
* 500, 502, 503, 504 and network errors (refused, reset, timeout): back off
  ``backoff * 2**n`` seconds (1, 2, 4, ...), or ``Retry-After`` when given.
* Anything else (400, 401, 404, ...) fails at once: retrying cannot help.

Bounds: at most ``max_attempts`` tries per request, and one wait longer than
``max_wait`` seconds gives up instead of sleeping (the job's own retry, with
Postgres' backoff, is the better place to wait minutes). ``sleep`` is
injectable so tests never wait.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tasks.errors import TasksError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class SyncError(TasksError):
    """An external service could not be synced."""


class HttpError(SyncError):
    """An HTTP request failed."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _without_query(url: str) -> str:
    """The URL for messages: no query string (it may carry ids), no userinfo."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date; None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is an error, never followed: urllib would copy the Authorization
    header to whatever host the redirect names."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


@dataclass
class HttpClient:
    timeout: float = 30.0
    max_attempts: int = 5
    backoff: float = 1.0
    max_wait: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    user_agent: str = "meal-scheduler"
    #: Requests made and waits slept, for the job's output.
    requests: int = 0
    waited: float = 0.0

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Any:
        """Send the request and return the decoded JSON body."""
        shown = f"{method} {_without_query(url)}"
        for attempt in range(1, self.max_attempts + 1):
            # Only http(s) URLs get here: the settings refuse any other scheme.
            req = urllib.request.Request(url, data=body, method=method)  # noqa: S310
            req.add_header("Accept", "application/json")
            req.add_header("User-Agent", self.user_agent)
            for key, value in (headers or {}).items():
                req.add_header(key, value)
            self.requests += 1
            wait: float | None
            try:
                with _OPENER.open(req, timeout=self.timeout) as resp:
                    raw = resp.read()
            except urllib.error.HTTPError as exc:
                status = exc.code
                detail = exc.read()[:200].decode("utf-8", "replace").strip()
                exc.close()
                if status not in RETRY_STATUSES:
                    raise HttpError(f"{shown} -> HTTP {status}: {detail}", status) from exc
                wait = retry_after_seconds(exc.headers.get("Retry-After"))
                reason = f"HTTP {status}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                status = None
                wait = None
                reason = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            else:
                try:
                    return json.loads(raw) if raw.strip() else None
                except ValueError as exc:
                    raise HttpError(f"{shown} -> response is not JSON: {exc}") from exc
            if wait is None:
                wait = self.backoff * 2 ** (attempt - 1)
            if attempt == self.max_attempts:
                raise HttpError(f"{shown} -> {reason}, gave up after {attempt} attempts", status)
            if wait > self.max_wait:
                raise HttpError(
                    f"{shown} -> {reason}, asked to wait {wait:.0f}s"
                    f" (more than {self.max_wait:.0f}s)",
                    status,
                )
            log.warning(
                "request failed; retrying",
                extra={"action": "http_retry", "request": shown, "reason": reason, "wait": wait},
            )
            self.sleep(wait)
            self.waited += wait
        raise AssertionError("unreachable")  # pragma: no cover

    def get_json(self, url: str, headers: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", url, headers)

    def post_form(self, url: str, body: bytes, headers: Mapping[str, str] | None = None) -> Any:
        merged = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", url, merged, body)
