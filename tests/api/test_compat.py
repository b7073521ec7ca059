"""The fast executor's guard: on at start-up only when the frameworks are the tested ones."""

from __future__ import annotations

import logging
from typing import Any

import graphql
import pytest
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from execgate.api import compat, execution
from execgate.api.execution import InlineExecutor
from execgate.api.schema import ExecgateSchema, build_schema


def test_the_installed_frameworks_pass_the_guard() -> None:
    # fails when strawberry or graphql-core change under the executor: widen compat.TESTED
    # (and pyproject's bounds) only once the executor is checked against the new versions
    assert compat.check() == []
    assert build_schema().fast


def _fell_back(built: ExecgateSchema, caplog: pytest.LogCaptureFixture, *words: str) -> None:
    assert not built.fast
    assert built.execution_context_class is StrawberryGraphQLCoreExecutionContext
    [record] = [r for r in caplog.records if r.name == "execgate.api"]
    assert record.levelno == logging.WARNING
    assert "fast executor off" in record.getMessage()
    for word in words:
        assert word in record.getMessage()


def test_an_untested_graphql_core_falls_back_with_one_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given: graphql-core upgraded
    installed = compat.installed_version
    monkeypatch.setattr(
        compat,
        "installed_version",
        lambda name: "3.4.0" if name == "graphql-core" else installed(name),
    )

    # when
    with caplog.at_level(logging.WARNING, logger="execgate.api"):
        built = build_schema()

    # then
    _fell_back(built, caplog, "graphql-core 3.4.0")


def test_an_untested_strawberry_falls_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    installed = compat.installed_version
    monkeypatch.setattr(
        compat,
        "installed_version",
        lambda name: "0.342.0" if name == "strawberry-graphql" else installed(name),
    )

    with caplog.at_level(logging.WARNING, logger="execgate.api"):
        built = build_schema()

    _fell_back(built, caplog, "strawberry-graphql 0.342.0")


def test_a_changed_signature_falls_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given: execute_field takes another parameter
    def execute_field(
        self: Any,
        parent_type: Any,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
        extra: Any = None,
    ) -> Any:
        raise AssertionError("never called")

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_field", execute_field)

    with caplog.at_level(logging.WARNING, logger="execgate.api"):
        built = build_schema()

    _fell_back(built, caplog, "execute_field(", "extra")


def test_a_renamed_internal_falls_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given: graphql-core renamed the coerced variable values
    values = graphql.execution.values.VariableValues
    monkeypatch.setattr(values, "_fields", ("sources", "values"))

    with caplog.at_level(logging.WARNING, logger="execgate.api"):
        built = build_schema()

    _fell_back(built, caplog, "VariableValues(sources, values)")


def test_a_missing_attribute_falls_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(compat, "ATTRIBUTES", (*compat.ATTRIBUTES, "renamed_by_an_upgrade"))

    with caplog.at_level(logging.WARNING, logger="execgate.api"):
        built = build_schema()

    _fell_back(built, caplog, "renamed_by_an_upgrade")


def test_a_probe_that_answers_otherwise_falls_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given: the inline path completes leaves wrongly (as a changed internal could make it)
    monkeypatch.setattr(execution, "_complete_leaf", lambda plan, source: "wrong")

    with caplog.at_level(logging.WARNING, logger="execgate.api"):
        built = build_schema()

    _fell_back(built, caplog, "the probe operation answered")


def test_a_probe_whose_inline_path_never_runs_falls_back() -> None:
    # an executor that never completes anything inline answers right, but gains nothing
    class Idle(InlineExecutor):
        def _plans_for(self, object_type: Any) -> None:
            return None

    assert compat.check(Idle) == ["the probe's known answers were not completed inline"]
