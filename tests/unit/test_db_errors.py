"""The psycopg -> tasks.errors map, on exceptions built in memory (no server)."""

from __future__ import annotations

import psycopg
import psycopg.errors as pgerr
import pytest

from tasks.db import map_error
from tasks.errors import DatabaseError, DatabaseUnavailable, InvalidInput, InvalidTransition


@pytest.mark.parametrize(
    "exc",
    [
        psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
        pgerr.NumericValueOutOfRange("integer out of range"),
        pgerr.UntranslatableCharacter("unsupported Unicode escape sequence"),
        pgerr.DatetimeFieldOverflow("date/time field value out of range"),
        pgerr.InvalidParameterValue("bad value"),
    ],
)
def test_every_data_error_is_invalid_input_with_its_message(exc: psycopg.Error) -> None:
    mapped = map_error(exc)
    assert type(mapped) is InvalidInput
    assert str(mapped) == str(exc)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (pgerr.RaiseException("job is not startable"), InvalidTransition),
        (psycopg.OperationalError("connection refused"), DatabaseUnavailable),
        (pgerr.AdminShutdown("terminating connection"), DatabaseUnavailable),
        (psycopg.ProgrammingError("syntax error"), DatabaseError),
    ],
)
def test_other_errors_keep_their_class(exc: psycopg.Error, expected: type[Exception]) -> None:
    assert type(map_error(exc)) is expected
