from __future__ import annotations

import pytest

from tasks import JobContext, handlers, job_handler
from tasks.errors import ConfigError, HandlerError
from tasks.handlers import get_handler, import_failures, load_handler_modules
from tasks.store import encode_output


def test_register_and_find() -> None:
    @job_handler("unit_test_type")
    def handle(ctx: JobContext) -> dict[str, object]:
        return {"ok": ctx.job_id}

    assert get_handler("unit_test_type") is handle


def test_a_second_handler_for_a_type_is_refused() -> None:
    @job_handler("unit_test_dup")
    def first(ctx: JobContext) -> None:
        return None

    with pytest.raises(HandlerError, match="already has a handler"):

        @job_handler("unit_test_dup")
        def second(ctx: JobContext) -> None:
            return None


def test_empty_type_is_refused() -> None:
    with pytest.raises(HandlerError, match="non-empty"):
        job_handler(" ")


def test_an_unimportable_module_names_itself() -> None:
    with pytest.raises(ConfigError, match="cannot import 'no_such_module_xyz'"):
        load_handler_modules(("no_such_module_xyz",), strict=True)


def test_an_unimportable_module_is_remembered_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    # The registry is process-wide: this test's failure must not outlive it
    # (a worker started later in the same test run would refuse to start).
    monkeypatch.setattr(handlers, "_import_failures", {})
    loaded = load_handler_modules(("no_such_module_abc",))
    assert "tasks.jobs" in loaded
    assert "No module named 'no_such_module_abc'" in import_failures()["no_such_module_abc"]


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ([1, 2], "must be a dict or None, got list"),
        ({"when": object()}, "not JSON"),
        ({"x": float("nan")}, "not JSON"),
    ],
)
def test_bad_output_is_a_handler_error(output: object, message: str) -> None:
    with pytest.raises(HandlerError, match=message):
        encode_output(output)


def test_good_output_encodes() -> None:
    assert encode_output({"a": [1, "b"]}) == '{"a": [1, "b"]}'
    assert encode_output(None) is None
