"""The fast executor's guard: on at start-up only when the frameworks are the tested ones, and
answers that do not depend on the switch, nor on a tracing extension."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import graphql
import pytest
from strawberry.extensions.tracing import ApolloTracingExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from execgate.api import compat, execution
from execgate.api.context import build_context
from execgate.api.execution import EventExecutor, InlineExecutor
from execgate.api.schema import ExecgateSchema, build_schema
from execgate.config import ServerSettings
from execgate.domain.keys import NodeExecutionKey
from execgate.domain.models import BackendKind, Execution, ExecutionStatus, NodeExecution
from execgate.service.gateway import Gateway
from tests.fakes import FakeBackend, ListsWithoutNodes, make_execution


def test_the_installed_frameworks_pass_the_guard() -> None:
    # fails when strawberry or graphql-core change under the executor: widen compat.TESTED
    # (and pyproject's bounds) only once the executor is checked against the new versions
    assert compat.check() == []
    assert build_schema().fast


def _fell_back(built: ExecgateSchema, caplog: pytest.LogCaptureFixture, *words: str) -> None:
    assert not built.fast
    # strawberry's own executor, each subscription event with its own memo
    assert built.execution_context_class is EventExecutor
    assert EventExecutor.__bases__ == (StrawberryGraphQLCoreExecutionContext,)
    own = {name for name in vars(EventExecutor) if not name.startswith("__")}
    assert own == {"build_per_event_executor"}
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


def test_the_switch_off_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="execgate.api"):
        built = build_schema(server=ServerSettings(fast_executor=False))

    assert not built.fast
    assert not [r for r in caplog.records if r.name == "execgate.api"]


# -- the same answers, whichever executor ------------------------------------------------------

QUERIES = [
    """{ executions(first: 30) { totalCount skippedInstances { instance code }
         pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
         edges { cursor node { id nativeId status statusRaw mode modeRaw finished startedAt
                               finishedAt createdAt durationMs errorMessage
                               instance { id name kind capabilities }
                               workflow { id nativeId name instance { name } }
                               nodeExecutions { id nodeName nodeType status startedAt
                                                finishedAt durationMs runIndex retryCount
                                                errorMessage inputData outputData } } } } }""",
    """{ instances { __typename id name kind capabilities
         executions(first: 5) { nodes { id status inputData outputData retryOf { id } } } } }""",
    """query($status: [ExecutionStatus!]) {
         executions(first: 20, filter: {status: $status}) {
           edges { node { ... on Execution { id status workflow { name } } } } } }""",
    """query($skip: Boolean!) { executions(first: 10) { edges { node {
         id status @skip(if: $skip) nodeExecutions @include(if: $skip) { nodeName } } } } }""",
    '{ executions(first: 3, after: "garbage") { edges { node { id } } } }',
]


def _runs(execution: Execution, count: int) -> tuple[NodeExecution, ...]:
    return tuple(
        NodeExecution(
            key=NodeExecutionKey(execution.key, str(position)),
            node_name=f"node {position}",
            node_type="http" if position else None,
            status=ExecutionStatus.FAILED if position == 2 else ExecutionStatus.SUCCESS,
            status_raw="error" if position == 2 else "success",
            position=position,
            started_at=execution.started_at,
            duration_ms=position * 10,
            input_data=[{"json": {"n": position}}],
            output_data=None if position == 2 else [{"json": {"n": position + 1}}],
            error_message="boom" if position == 2 else None,
        )
        for position in range(count)
    )


@pytest.fixture
def gateway() -> Gateway:
    """A team-like instance (lists without node data) and an n8n-like one, fixed data."""
    team = [
        make_execution(
            "acme",
            str(n),
            minutes=n,
            status=ExecutionStatus.FAILED if n % 3 else ExecutionStatus.SUCCESS,
            workflow=f"wf{n % 2}",
        )
        for n in range(1, 25)
    ]
    team = [replace(e, node_executions=_runs(e, n % 4)) for n, e in enumerate(team)]
    team[5] = replace(team[5], retry_of="3", workflow_name=None)
    n8n = [make_execution("n8n", str(n), minutes=n + 0.5, workflow="wf7") for n in range(1, 15)]
    n8n = [replace(e, node_executions=_runs(e, 3)) for e in n8n]
    backends = {
        "acme": ListsWithoutNodes("acme", team),
        "n8n": FakeBackend("n8n", n8n, kind=BackendKind.N8N, reports_total=False),
    }
    return Gateway(backends)


async def _answers(built: ExecgateSchema, gateway: Gateway) -> list[Any]:
    answers = []
    for query in QUERIES:
        for variables in ({"status": ["FAILED"], "skip": False}, {"skip": True}):
            used = {k: v for k, v in variables.items() if f"${k}" in query}
            result = await built.execute(
                query,
                variable_values=used,
                context_value=build_context(gateway, node_runs=built.node_runs),
            )
            errors = [
                (e.message, e.path, (e.extensions or {}).get("code")) for e in result.errors or ()
            ]
            answers.append((result.data, errors))
    return answers


async def test_switching_the_fast_executor_off_gives_identical_answers(gateway: Gateway) -> None:
    # given: a schema with each executor
    fast = build_schema()
    stock = build_schema(server=ServerSettings(fast_executor=False))
    assert fast.fast and not stock.fast

    # when
    got = await _answers(fast, gateway)
    expected = await _answers(stock, gateway)

    # then: the same data and errors, twice over (the second time from remembered plans)
    assert got == expected
    assert await _answers(fast, gateway) == expected
    assert got[0][0]["executions"]["edges"][0]["node"]["nodeExecutions"]
    assert got[-1][1] and got[-1][1][0][2] == "INVALID_CURSOR"


async def test_answers_with_a_tracing_extension_equal_strawberrys(gateway: Gateway) -> None:
    # given: a resolver-wrapping tracing extension on a fast-executor schema
    traced = build_schema(extensions=[ApolloTracingExtension])
    stock = build_schema(server=ServerSettings(fast_executor=False))
    assert traced.fast

    # when
    got = await _answers(traced, gateway)
    expected = await _answers(stock, gateway)
    result = await traced.execute(
        "{ executions(first: 2) { edges { node { id retryOf { id } } } } }",
        context_value=build_context(gateway),
    )

    # then: the same answers, and the tracer saw the resolvers
    assert got == expected
    resolvers = result.extensions["tracing"]["execution"]["resolvers"]  # type: ignore[index]
    assert [r["path"] for r in resolvers if r["field_name"] == "executions"] == [["executions"]]
    assert len([r for r in resolvers if r["field_name"] == "retryOf"]) == 2


async def test_the_app_builds_its_schema_from_the_server_settings() -> None:
    from tests.security.world import Grant, world

    async with world([Grant("c")], fast_executor=False) as stock, world([Grant("c")]) as fast:
        assert not stock.app.state.schema.fast
        assert fast.app.state.schema.fast
        query = "{ instances { name kind } }"
        assert await stock.query(query, as_client="c") == await fast.query(query, as_client="c")
