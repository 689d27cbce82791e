"""The operator surfaces' commands: ``web`` (the dashboard) and ``health``.

Registered by ``tasks.cli`` with :func:`register`; each handler reads
its own settings and imports its stack (Starlette, uvicorn, redis) only
when it runs, so the other commands never pay for them.
"""

from __future__ import annotations

import argparse
import getpass
import socket
import sys
from typing import Any

from tasks.settings import Settings

DEFAULT_PORT = 8080


def cmd_web(args: argparse.Namespace) -> int:
    if args.hash_password:
        from tasks.web.auth import hash_password

        if sys.stdin.isatty():
            password = getpass.getpass("admin password: ")
        else:
            password = sys.stdin.readline().rstrip("\n")
        print(hash_password(password))
        return 0
    from tasks.web.app import serve

    settings = Settings.from_env(need_redis=False)
    return serve(settings, args.host, args.port)


def web_command(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> list[str]:
    """``python -m tasks web`` on ``port``, or on a free one when it is taken (the dev stack)."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    return [sys.executable, "-m", "tasks", "web", "--host", host, "--port", str(port)]


def cmd_health(args: argparse.Namespace) -> int:
    from tasks.health import check

    settings = Settings.from_env()
    result = check(settings, worker=args.worker)
    print(result.reason if result.ok else f"unhealthy: {result.reason}")
    return 0 if result.ok else 1


def register(groups: Any, common: Any = None) -> None:
    """Add ``web`` and ``health`` to the CLI's groups (``common`` is unused:
    neither prints JSON)."""
    p = groups.add_parser("web", help="the web dashboard (Prometheus metrics at /metrics)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8080)")
    p.add_argument(
        "--hash-password",
        action="store_true",
        help="read a password on stdin, print its hash for TASKS_ADMIN_PASSWORD_HASH",
    )
    p.set_defaults(standalone=cmd_web)
    p = groups.add_parser("health", help="exit 0 when healthy, else 1 with the reason")
    p.add_argument(
        "--worker", action="store_true", help="check this host's worker instead of the beat"
    )
    p.set_defaults(standalone=cmd_health)
