"""The processes of one dev stack: spawned in order, supervised, stopped in reverse.

Children run in their own sessions (a Ctrl-C reaches only the supervisor, so
the stop order holds) and, on Linux, get a parent-death signal, so a SIGKILL
of the supervisor leaves nothing running. :mod:`tasks.dev` decides what runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from tasks import surfaces
from tasks.db import Database
from tasks.dev_console import Console
from tasks.dev_servers import (
    DevStackError,
    ServerCommand,
    ensure_dev_database,
    postgres_answers,
    redis_answers,
)
from tasks.logs import safe_url

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0
SERVER_START_TIMEOUT = 60.0
#: Output lines that say a Celery process is up (celery.apps.worker, celery.beat).
READY_MARKERS = {"worker": " ready.", "beat": "beat: Starting...", "web": "dashboard on http"}
APP_NAME = "meal-scheduler-dev"
_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    stop_signal: signal.Signals
    ready: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None


def _die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get ``sig`` when we die (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != parent:  # we died before the signal was armed
            os._exit(1)

    return arm


class Stack:
    """The processes of one dev stack, started in order and stopped in reverse."""

    def __init__(self, console: Console, data_dir: Path) -> None:
        self.console = console
        self.data_dir = data_dir
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self.hurry = threading.Event()
        self._lock_file: IO[str] | None = None
        self.env_file: Path | None = None  # written once the data folder is ours

    # ------------------------------------------------------------ signals

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        """Signal handler: the first signal stops gently, a second one at once."""
        if self.stopping.is_set():
            self.hurry.set()
        self.stopping.set()

    # ------------------------------------------------------------ processes

    def spawn(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        stop_signal: signal.Signals = signal.SIGTERM,
        user: pwd.struct_passwd | None = None,
        cwd: Path | None = None,
    ) -> Child:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            user=None if user is None else user.pw_uid,
            group=None if user is None else user.pw_gid,
            extra_groups=None if user is None else [],
            # Only a prctl() call runs between fork and exec; see _die_with_parent.
            preexec_fn=_die_with_parent(stop_signal),  # noqa: PLW1509
        )
        child = Child(name, proc, stop_signal)
        child.reader = threading.Thread(
            target=self._pump, args=(child, READY_MARKERS.get(name)), daemon=True
        )
        child.reader.start()
        self.children.append(child)
        return child

    def _pump(self, child: Child, marker: str | None) -> None:
        assert child.proc.stdout is not None
        for raw in child.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if marker is not None and marker in line:
                child.ready.set()
                if child.name == "web" and self.console.log_path is not None:
                    # --demo sends process output to the log file; the
                    # dashboard's URL is for the person at the terminal.
                    self.console.write("dev", line)
            self.console.write(child.name, line)

    def _wait_for(self, child: Child, what: str, probe: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not self.stopping.is_set():
            code = child.proc.poll()
            if code is not None:
                self.console.replay(child.name)
                raise DevStackError(f"{what} exited with code {code} while starting (see above)")
            if probe():
                child.ready.set()
                return True
            if time.monotonic() > deadline:
                raise DevStackError(f"{what} did not answer within {SERVER_START_TIMEOUT:.0f} s")
            self.stopping.wait(0.1)
        return False

    def stop(self) -> None:
        celery = [c for c in self.children if c.name in READY_MARKERS]
        servers = [c for c in self.children if c.name not in READY_MARKERS]
        for group in (celery, list(reversed(servers))):
            self._stop_group(group)
        for child in self.children:
            if child.reader is not None:
                child.reader.join(timeout=2.0)
        if self._lock_file is not None:
            self._lock_file.close()
        log.info("dev stack stopped", extra={"action": "stopped"})

    def _stop_group(self, children: list[Child]) -> None:
        for child in children:
            if child.proc.poll() is None:  # not reaped: the pid is still ours
                child.proc.send_signal(child.stop_signal)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in children:
            while child.proc.poll() is None and time.monotonic() < deadline:
                if self.hurry.wait(0.05):
                    break
            if child.proc.poll() is None:
                log.warning("killing a process that did not stop", extra={"child": child.name})
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()

    # ------------------------------------------------------------ startup

    def claim_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock_file = (self.data_dir / ".lock").open("w")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            lock_file.close()
            raise DevStackError(
                f"another `python -m tasks dev` is using {self.data_dir}; stop it or pass "
                "--data-dir"
            ) from exc
        self._lock_file = lock_file

    def start_server(self, server: ServerCommand, env: dict[str, str]) -> Child:
        return self.spawn(
            server.name, server.argv, env, server.stop_signal, server.user, cwd=server.cwd
        )

    def wait_postgres(self, child: Child, admin_url: str) -> bool:
        admin = Database(admin_url, 1, APP_NAME)
        if not self._wait_for(child, "embedded postgres", postgres_answers(admin)):
            return False
        ensure_dev_database(admin)
        return True

    def wait_redis(self, child: Child | None, url: str) -> bool:
        probe = redis_answers(url)
        if child is not None:
            return self._wait_for(child, "embedded redis", probe)
        if not probe():
            raise DevStackError(f"Redis at REDIS_URL={safe_url(url)} is not reachable")
        return True

    def start_celery(self, env: dict[str, str]) -> None:
        base = [sys.executable, "-m", "celery", "-A", "tasks"]
        self.spawn("worker", [*base, "worker", "--pool", "prefork", "-c", "2", "-l", "INFO"], env)
        self.spawn("beat", [*base, "beat", "-l", "INFO"], env)
        # The dashboard prints its URL ("dashboard on http://...") when it starts.
        self.spawn("web", surfaces.web_command(), env)

    # ------------------------------------------------------------ running

    def supervise(self, on_ready: Callable[[], None] | None = None) -> int:
        """Watch the children until a stop signal (0) or until one exits (1).

        ``on_ready`` runs once, when every child is ready.
        """
        announced = False
        while not self.stopping.wait(0.2):
            for child in self.children:
                code = child.proc.poll()
                if code is not None:
                    self.console.replay(child.name)
                    log.error(
                        "a process exited; stopping the stack",
                        extra={"action": "child_exited", "child": child.name, "code": code},
                    )
                    return 1
            if not announced and all(c.ready.is_set() for c in self.children):
                announced = True
                log.info("dev stack ready", extra={"action": "ready"})
                if on_ready is not None:
                    on_ready()
        log.info("stopping the dev stack", extra={"action": "stopping"})
        return 0


@contextlib.contextmanager
def stop_on_signals(stack: Stack) -> Iterator[None]:
    saved = {sig: signal.signal(sig, stack.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
