"""The handlers' own settings: external services, read from the environment.

A service whose variables are all unset is *not configured*: its part of a
job is skipped and the output says so. A service configured by halves, or a
value of the wrong shape, is a :class:`~tasks.errors.ConfigError` naming the
variable. Secrets are kept out of ``repr``.

=========================  ===================================================
TANDOOR_URL                Tandoor base URL, http(s)://host[/prefix]
TANDOOR_TOKEN              Tandoor API token (sent as ``Authorization: Bearer``)
FATSECRET_URL              FatSecret method endpoint, e.g. .../rest/server.api
FATSECRET_TOKEN_URL        FatSecret OAuth 2 token endpoint
FATSECRET_CLIENT_ID        FatSecret OAuth 2 client id
FATSECRET_CLIENT_SECRET    FatSecret OAuth 2 client secret
SMTP_URL                   smtp://[user:pass@]host[:port] (port 25; add
                           ?starttls=true to upgrade) or smtps://... (TLS, 465);
                           a user name needs TLS (or ?allow_plaintext_login=true)
SMTP_FROM                  sender address (default meal-scheduler@localhost)
=========================  ===================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from tasks.errors import ConfigError

ENV_DOC: dict[str, str] = {
    "TANDOOR_URL": "Tandoor base URL, http(s)://host[/prefix] (unset: recipe sync skipped)",
    "TANDOOR_TOKEN": "Tandoor API token, sent as Authorization: Bearer (required with TANDOOR_URL)",
    "FATSECRET_URL": "FatSecret method endpoint, e.g. https://platform.fatsecret.com/rest/server.api",
    "FATSECRET_TOKEN_URL": "FatSecret OAuth 2 token endpoint, e.g. https://oauth.fatsecret.com/connect/token",
    "FATSECRET_CLIENT_ID": "FatSecret OAuth 2 client id",
    "FATSECRET_CLIENT_SECRET": "FatSecret OAuth 2 client secret",
    "SMTP_URL": "smtp://[user:pass@]host[:port][?starttls=true] or smtps://... (unset: no email)",
    "SMTP_FROM": "sender of the advisor's email (default meal-scheduler@localhost)",
}

_FATSECRET_VARS = (
    "FATSECRET_URL",
    "FATSECRET_TOKEN_URL",
    "FATSECRET_CLIENT_ID",
    "FATSECRET_CLIENT_SECRET",
)


def _get(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or "").strip()


def _http_url(env: Mapping[str, str], name: str) -> str:
    value = _get(env, name)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http:// or https:// URL with a host, got {value!r}")
    return value.rstrip("/")


def _group(env: Mapping[str, str], names: tuple[str, ...]) -> bool:
    """True when the group is configured; a group set by halves names what is missing."""
    present = [n for n in names if _get(env, n)]
    if not present:
        return False
    missing = [n for n in names if not _get(env, n)]
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
        if _group(env, ("TANDOOR_URL", "TANDOOR_TOKEN")):
            tandoor = TandoorSettings(_http_url(env, "TANDOOR_URL"), _get(env, "TANDOOR_TOKEN"))
        fatsecret = None
        if _group(env, _FATSECRET_VARS):
            fatsecret = FatSecretSettings(
                url=_http_url(env, "FATSECRET_URL"),
                token_url=_http_url(env, "FATSECRET_TOKEN_URL"),
                client_id=_get(env, "FATSECRET_CLIENT_ID"),
                client_secret=_get(env, "FATSECRET_CLIENT_SECRET"),
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
        """None when SMTP_URL is unset (email is skipped, not an error)."""
        env = os.environ if env is None else env
        raw = _get(env, "SMTP_URL")
        if not raw:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in ("smtp", "smtps"):
            raise ConfigError("SMTP_URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ConfigError("SMTP_URL has no host (smtp://host:port)")
        try:
            port = parts.port
        except ValueError:
            raise ConfigError("SMTP_URL has an invalid port") from None
        use_tls = parts.scheme == "smtps"
        query = parse_qs(parts.query)
        starttls = (query.get("starttls") or ["false"])[0].lower() in ("1", "true", "yes")
        if use_tls and starttls:
            raise ConfigError("SMTP_URL: starttls is for smtp://; smtps:// is TLS already")
        # A password is never sent over plain text unless the URL says so
        # (a relay on localhost, say): smtplib's login() would do it silently.
        plaintext = (query.get("allow_plaintext_login") or ["false"])[0].lower()
        if parts.username and not (use_tls or starttls) and plaintext not in ("1", "true", "yes"):
            raise ConfigError(
                "SMTP_URL has a user name but neither smtps:// nor ?starttls=true: the password"
                " would cross the network in plain text; use TLS, or add"
                " ?allow_plaintext_login=true if you accept that"
            )
        sender = _get(env, "SMTP_FROM") or "meal-scheduler@localhost"
        if "@" not in sender:
            raise ConfigError(f"SMTP_FROM must be an email address, got {sender!r}")
        return cls(
            host=parts.hostname,
            port=port or (465 if use_tls else 25),
            use_tls=use_tls,
            starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            sender=sender,
        )
