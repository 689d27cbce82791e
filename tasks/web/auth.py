"""Admin sign-in: password hashes, constant-time checks, CSRF tokens.

The password is never stored: ``TASKS_ADMIN_PASSWORD_HASH`` holds a salted
PBKDF2-SHA256 hash (``python -m tasks web --hash-password`` makes one), and
every comparison is constant-time (:func:`hmac.compare_digest`), the user
name's included, so timing tells nothing about which part was wrong.

The session is a cookie signed with ``TASKS_WEB_SECRET`` (Starlette's
SessionMiddleware; SameSite=strict, HttpOnly). Every form that changes
something carries the session's CSRF token, compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ITERATIONS = 600_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256


def hash_password(password: str, salt: str | None = None, iterations: int = ITERATIONS) -> str:
    """``pbkdf2_sha256$<iterations>$<salt>$<hex digest>``."""
    if not password:
        raise ValueError("the password is empty")
    salt = salt or base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, expected = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations))
    return hmac.compare_digest(digest.hex(), expected)


def check_credentials(
    user: str, password: str, admin_user: str | None, admin_hash: str | None
) -> bool:
    """True only for the configured admin; no admin configured: always False."""
    if admin_user is None or admin_hash is None:
        return False
    same_user = hmac.compare_digest(user.encode(), admin_user.encode())
    # The hash runs either way, so a wrong user name costs as long as a wrong password.
    good_password = verify_password(password, admin_hash)
    return same_user and good_password


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
