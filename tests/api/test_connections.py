"""What a connection's selection asks of the backends."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, parse

from execgate.api.connections import wants_detail


def _info(document: str) -> Any:
    """An Info-shaped object for the first root field of ``document``."""
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = operation.selection_set.selections[0]
    assert isinstance(root, FieldNode)
    return SimpleNamespace(_raw_info=SimpleNamespace(field_nodes=[root], fragments=fragments))


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
    ],
)
def test_node_data_is_wanted_only_when_a_listed_execution_selects_it(
    document: str, wanted: bool
) -> None:
    assert wants_detail(_info(document)) is wanted
