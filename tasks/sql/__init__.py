"""Named queries, parsed once from the ``*.sql`` files in this folder.

A block starts with ``-- name: <name> :one|:many|:exec`` and runs until the
next such line. Comments inside a block are kept (Postgres ignores them).
A duplicate name (within or across files), an unknown kind or an empty
block fails at import, so a typo never reaches production as a missing query.
Files: ``queries.sql`` (dispatch and execution), ``operator.sql`` (CLI),
``jobs.sql`` (the meal-planner handlers), ``workers.sql`` (heartbeats and
the live job types).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal, cast

Kind = Literal["one", "many", "exec"]
_HEADER = re.compile(r"^--\s*name:\s*(?P<name>[a-z_][a-z0-9_]*)\s+:(?P<kind>\w+)\s*$")


@dataclass(frozen=True)
class Query:
    name: str
    kind: Kind
    text: str


def parse(source: str) -> dict[str, Query]:
    found: dict[str, Query] = {}
    name: str | None = None
    kind = ""
    lines: list[str] = []

    def close() -> None:
        if name is None:
            return
        body = "\n".join(lines).strip()
        if not any(ln.strip() and not ln.strip().startswith("--") for ln in lines):
            raise ValueError(f"query {name!r} has no SQL")
        if kind not in ("one", "many", "exec"):
            raise ValueError(f"query {name!r} has unknown kind :{kind}")
        found[name] = Query(name, cast("Kind", kind), body)

    for line in source.splitlines():
        match = _HEADER.match(line.strip())
        if match:
            close()
            name, kind, lines = match["name"], match["kind"], []
            if name in found:
                raise ValueError(f"query {name!r} is defined twice")
            continue
        if name is not None:
            lines.append(line)
    close()
    return found


def load_all() -> dict[str, Query]:
    merged: dict[str, Query] = {}
    files = sorted(
        (f for f in resources.files(__package__).iterdir() if f.name.endswith(".sql")),
        key=lambda f: f.name,
    )
    for file in files:
        for name, query in parse(file.read_text(encoding="utf-8")).items():
            if name in merged:
                raise ValueError(f"query {name!r} is defined in two files ({file.name})")
            merged[name] = query
    return merged


queries: dict[str, Query] = load_all()
