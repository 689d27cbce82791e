from __future__ import annotations

import pytest

from tasks.sql import parse, queries


def test_blocks_are_parsed_with_kind() -> None:
    found = parse("-- name: a :one\nSELECT 1;\n-- name: b :many\n-- why\nSELECT 2;\n")
    assert found["a"].kind == "one"
    assert found["b"].text == "-- why\nSELECT 2;"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("-- name: a :one\nSELECT 1;\n-- name: a :one\nSELECT 2;", "defined twice"),
        ("-- name: a :some\nSELECT 1;", "unknown kind"),
        ("-- name: a :one\n-- only a comment\n", "has no SQL"),
    ],
)
def test_bad_files_fail_at_import(source: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(source)


def test_the_shipped_files_load() -> None:
    assert queries["claim_due_jobs"].kind == "many"
    assert queries["start_execution"].kind == "one"
