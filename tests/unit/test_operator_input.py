"""Operator input checked before any query: JSON, ids, job types, integers."""

from __future__ import annotations

import argparse

import pytest

from tasks.errors import ConfigError
from tasks.operator import check_job_type, check_text_id, int_between, parse_json


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"hours": 500, "hours": 2}', "--config has the key 'hours' twice"),
        ('{"a": {"b": 1, "b": 2}}', "--config has the key 'b' twice"),
        ('{"hours": NaN}', "--config: NaN is not a JSON number"),
        ('{"hours": -Infinity}', "--config: -Infinity is not a JSON number"),
        ('{"hours": 1e400}', "--config hours is not a finite number"),
        ('{"note": "a\\u0000b"}', "--config note contains a NUL character"),
        ('{"a\\u0000": 1}', "--config has a key with a NUL character"),
        ('{"list": [1, 2, 9007199254740993]}', "--config list[2] is out of range"),
        ("{", "--config is not valid JSON"),
    ],
)
def test_json_that_would_be_silently_changed_or_refused_later_names_the_field(
    text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_json("--config", text)


def test_ordinary_json_passes() -> None:
    assert parse_json("--params", '{"n": 2147483648, "x": 1.5, "s": "\\u00e9"}') == {
        "n": 2147483648,
        "x": 1.5,
        "s": "\u00e9",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "id must not be empty"),
        ("x" * 10_000, "id must be at most 200 characters, got 10000"),
        ("ok\nforged", "id must not contain control characters"),
        ("ok\x1b[31m", "id must not contain control characters"),
        ("ok\u202e", "id must not contain control characters"),
    ],
)
def test_job_ids_are_bounded_and_printable(value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_text_id("id", value)


def test_job_ids_may_be_any_printable_text() -> None:
    assert check_text_id("id", "weekly_generation:user:42 (Zoë)") == (
        "weekly_generation:user:42 (Zoë)"
    )


@pytest.mark.parametrize("value", ["", "has space", "t\n", "-lead", "x" * 101, "ü"])
def test_job_types_are_plain_names(value: str) -> None:
    with pytest.raises(ConfigError, match="--type must be 1-100 characters"):
        check_job_type("--type", value)


def test_bounded_integers_name_the_rule() -> None:
    parse = int_between(1, 86_400)
    assert parse("60") == 60
    with pytest.raises(argparse.ArgumentTypeError, match="must be 1-86400, got 2147483647"):
        parse("2147483647")
    with pytest.raises(argparse.ArgumentTypeError, match="must be an integer, got '1e400'"):
        parse("1e400")
