"""What a connection's selection asks of the backends."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, parse

from execgate.api.connections import wants_detail
from execgate.api.schema import build_schema

SCHEMA = build_schema()


def _info(document: str, variables: dict[str, Any] | None = None) -> Any:
    """An Info-shaped object for the first root field of ``document``."""
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = operation.selection_set.selections[0]
    assert isinstance(root, FieldNode)
    schema = SCHEMA._schema
    assert schema.query_type is not None
    field = schema.query_type.fields["executions"]
    raw = SimpleNamespace(
        field_nodes=[root],
        fragments=fragments,
        schema=schema,
        return_type=field.type,
        variable_values=variables or {},
    )
    return SimpleNamespace(_raw_info=raw)


@pytest.mark.parametrize(
    ("document", "wanted"),
    [
        ("{ executions { edges { node { id status } } } }", False),
        ("{ executions { pageInfo { endCursor } totalCount } }", False),
        ("{ executions { edges { node { nodeExecutions { nodeName } } } } }", True),
        ("{ executions { nodes { outputData } } }", True),
        ("{ executions { edges { n: node { i: inputData } } } }", True),
        ("{ executions { ...P } } fragment P on ExecutionConnection { nodes { inputData } }", True),
        (
            "{ executions { edges { node { ... on Execution { ...N } } } } }"
            " fragment N on Execution { nodeExecutions { id } }",
            True,
        ),
        ("{ executions { edges { node { ...Missing } } } }", False),
        ("{ executions { edges { node { nodeExecutions @skip(if: true) { id } } } } }", False),
        ("{ executions { nodes @include(if: false) { inputData } } }", False),
        ("{ executions { edges { node { ... @skip(if: false) { outputData } } } } }", True),
    ],
)
def test_node_data_is_wanted_only_when_a_listed_execution_selects_it(
    document: str, wanted: bool
) -> None:
    assert wants_detail(_info(document)) is wanted


@pytest.mark.parametrize(("show", "wanted"), [(True, True), (False, False)])
def test_a_variable_condition_is_read_as_the_estimate_reads_it(show: bool, wanted: bool) -> None:
    document = (
        "query($show: Boolean!) { executions(first: 5) "
        "{ edges { node { id ...N @include(if: $show) } } } } "
        "fragment N on Execution { nodeExecutions { id } }"
    )
    assert wants_detail(_info(document, {"show": show})) is wanted
