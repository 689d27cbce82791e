"""The handlers' own settings: external services, read from the environment.

Like :class:`tasks.settings.Settings`: ``TASKS_*`` names, read once per
process (:func:`job_settings`), validated when a worker starts
(``tasks.preflight``), unset tested with ``is None``. A service whose
variables are all unset is *not configured*: its part of a job is skipped
and the output says so. A service configured by halves, an empty or
malformed value, or a variable still under its old unprefixed name is a
:class:`~tasks.errors.ConfigError` naming the variable, so a bad setting
stops the worker at start instead of failing (and retrying) jobs. Secrets
are kept out of ``repr``.

=============================  =============================================
TASKS_TANDOOR_URL              Tandoor base URL, http(s)://host[/prefix]
TASKS_TANDOOR_TOKEN            Tandoor API token (``Authorization: Bearer``)
TASKS_FATSECRET_URL            FatSecret method endpoint, .../rest/server.api
TASKS_FATSECRET_TOKEN_URL      FatSecret OAuth 2 token endpoint
TASKS_FATSECRET_CLIENT_ID      FatSecret OAuth 2 client id
TASKS_FATSECRET_CLIENT_SECRET  FatSecret OAuth 2 client secret
TASKS_SMTP_URL                 smtp://[user:pass@]host[:port] (port 25; add
                               ?starttls=true to upgrade) or smtps://... (465);
                               a user name needs TLS (or ?allow_plaintext_login=true)
TASKS_SMTP_FROM                sender address (default meal-scheduler@localhost)
=============================  =============================================
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from tasks.errors import ConfigError

ENV_DOC: dict[str, str] = {
    "TASKS_TANDOOR_URL": "Tandoor base URL, http(s)://host[/prefix] (unset: recipe sync skipped)",
    "TASKS_TANDOOR_TOKEN": "Tandoor API token, Authorization: Bearer (needs TASKS_TANDOOR_URL)",
    "TASKS_FATSECRET_URL": "FatSecret method endpoint, https://platform.fatsecret.com/rest/server.api",
    "TASKS_FATSECRET_TOKEN_URL": "FatSecret token endpoint, https://oauth.fatsecret.com/connect/token",
    "TASKS_FATSECRET_CLIENT_ID": "FatSecret OAuth 2 client id",
    "TASKS_FATSECRET_CLIENT_SECRET": "FatSecret OAuth 2 client secret",
    "TASKS_SMTP_URL": "smtp://[user:pass@]host[:port][?starttls=true] or smtps://... (unset: none)",
    "TASKS_SMTP_FROM": "sender of the advisor's email (default meal-scheduler@localhost)",
}

_FATSECRET_VARS = (
    "TASKS_FATSECRET_URL",
    "TASKS_FATSECRET_TOKEN_URL",
    "TASKS_FATSECRET_CLIENT_ID",
    "TASKS_FATSECRET_CLIENT_SECRET",
)


#: The names these settings had before they took the TASKS_ prefix. There is
#: no fallback (a second name for one setting is how configurations drift);
#: an old name still set is refused with the new one, so it is not silently
#: ignored either.
RENAMED = {name.removeprefix("TASKS_"): name for name in ENV_DOC}


def _get(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if raw is None:
        return None
    if not raw.strip():
        raise ConfigError(f"{name} is set but empty: unset it or give it a value")
    return raw.strip()


def _http_url(env: Mapping[str, str], name: str) -> str:
    value = _get(env, name) or ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http:// or https:// URL with a host, got {value!r}")
    return value.rstrip("/")


def _group(env: Mapping[str, str], names: tuple[str, ...]) -> bool:
    """True when the group is configured; a group set by halves names what is missing."""
    present = [n for n in names if _get(env, n) is not None]
    if not present:
        return False
    missing = [n for n in names if _get(env, n) is None]
    if missing:
        raise ConfigError(f"{missing[0]} is not set (needed because {present[0]} is set)")
    return True


@dataclass(frozen=True)
class TandoorSettings:
    url: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class FatSecretSettings:
    url: str
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class SyncSettings:
    tandoor: TandoorSettings | None
    fatsecret: FatSecretSettings | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SyncSettings:
        env = os.environ if env is None else env
        tandoor = None
        if _group(env, ("TASKS_TANDOOR_URL", "TASKS_TANDOOR_TOKEN")):
            token = _get(env, "TASKS_TANDOOR_TOKEN")
            assert token is not None  # _group checked it
            tandoor = TandoorSettings(_http_url(env, "TASKS_TANDOOR_URL"), token)
        fatsecret = None
        if _group(env, _FATSECRET_VARS):
            fatsecret = FatSecretSettings(
                url=_http_url(env, "TASKS_FATSECRET_URL"),
                token_url=_http_url(env, "TASKS_FATSECRET_TOKEN_URL"),
                client_id=_get(env, "TASKS_FATSECRET_CLIENT_ID") or "",
                client_secret=_get(env, "TASKS_FATSECRET_CLIENT_SECRET") or "",
            )
        return cls(tandoor, fatsecret)


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    use_tls: bool  # implicit TLS (smtps://)
    starttls: bool
    username: str | None
    password: str | None = field(repr=False)
    sender: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MailSettings | None:
        """None when TASKS_SMTP_URL is unset (email is skipped, not an error)."""
        env = os.environ if env is None else env
        raw = _get(env, "TASKS_SMTP_URL")
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in ("smtp", "smtps"):
            raise ConfigError("TASKS_SMTP_URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ConfigError("TASKS_SMTP_URL has no host (smtp://host:port)")
        try:
            port = parts.port
        except ValueError as exc:
            raise ConfigError("TASKS_SMTP_URL has an invalid port") from exc
        use_tls = parts.scheme == "smtps"
        query = parse_qs(parts.query)
        starttls = (query.get("starttls") or ["false"])[0].lower() in ("1", "true", "yes")
        if use_tls and starttls:
            raise ConfigError("TASKS_SMTP_URL: starttls is for smtp://; smtps:// is TLS already")
        # A password is never sent over plain text unless the URL says so
        # (a relay on localhost, say): smtplib's login() would do it silently.
        plaintext = (query.get("allow_plaintext_login") or ["false"])[0].lower()
        if parts.username and not (use_tls or starttls) and plaintext not in ("1", "true", "yes"):
            raise ConfigError(
                "TASKS_SMTP_URL has a user name but neither smtps:// nor ?starttls=true: the"
                " password would cross the network in plain text; use TLS, or add"
                " ?allow_plaintext_login=true if you accept that"
            )
        sender = _get(env, "TASKS_SMTP_FROM")
        if sender is None:
            sender = "meal-scheduler@localhost"
        if "@" not in sender:
            raise ConfigError(f"TASKS_SMTP_FROM must be an email address, got {sender!r}")
        return cls(
            host=parts.hostname,
            port=port or (465 if use_tls else 25),
            use_tls=use_tls,
            starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            sender=sender,
        )


@dataclass(frozen=True)
class JobSettings:
    """Every setting of the meal-planner jobs."""

    sync: SyncSettings
    mail: MailSettings | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> JobSettings:
        env = os.environ if env is None else env
        for old, new in RENAMED.items():
            if env.get(old) is not None and env.get(new) is None:
                raise ConfigError(f"{old} is now called {new}: set {new} instead")
        return cls(SyncSettings.from_env(env), MailSettings.from_env(env))


@functools.cache
def job_settings() -> JobSettings:
    """The process's job settings, read from the environment once."""
    return JobSettings.from_env()
