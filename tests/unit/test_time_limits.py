"""Handlers never swallow the worker's time limit (a static check of tasks/jobs)."""

from __future__ import annotations

import ast
from pathlib import Path

import tasks.jobs

BROAD = {"Exception", "BaseException"}


def _names(node: ast.expr | None) -> set[str]:
    if node is None:
        return {"BaseException"}  # a bare except
    if isinstance(node, ast.Tuple):
        return set().union(*(_names(e) for e in node.elts))
    if isinstance(node, ast.Name):
        return {node.id}
    if isinstance(node, ast.Attribute):
        return {node.attr}
    return set()


def _reraises(handler: ast.ExceptHandler) -> bool:
    return bool(handler.body) and isinstance(handler.body[-1], ast.Raise)


def swallowing_handlers(source: str) -> list[int]:
    """Lines of broad handlers that neither re-raise nor come after ``except TIME_LIMITS``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Try):
            continue
        limits_first = False
        for handler in node.handlers:
            names = _names(handler.type)
            if "TIME_LIMITS" in names and _reraises(handler):
                limits_first = True
            if names & BROAD and not limits_first and not _reraises(handler):
                found.append(handler.lineno)
    return found


def test_no_handler_in_tasks_jobs_swallows_a_time_limit() -> None:
    package = Path(tasks.jobs.__file__).parent
    offenders = {
        str(path.relative_to(package)): lines
        for path in sorted(package.glob("*.py"))
        if (lines := swallowing_handlers(path.read_text()))
    }
    assert offenders == {}, f"add `except TIME_LIMITS: raise` first: {offenders}"


def test_the_check_finds_a_swallowing_handler() -> None:
    bad = "try:\n    work()\nexcept Exception as exc:\n    log(exc)\n"
    good = (
        "try:\n    work()\nexcept TIME_LIMITS:\n    raise\nexcept Exception as exc:\n    log(exc)\n"
    )
    assert swallowing_handlers(bad) == [3]
    assert swallowing_handlers(good) == []
