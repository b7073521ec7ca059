"""The cost model's field names are the schema's, and the walk checks every ``first``."""

from __future__ import annotations

import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from execgate.api.cost import (
    COSTED_FIELDS,
    SUBGRAPH_COSTED_FIELDS,
    CostEstimate,
    FirstOutOfRange,
)
from execgate.api.schema import build_schema
from execgate.api.walk import Walker
from execgate.config import ServerSettings
from execgate.domain.models import CostModel

SCHEMA = build_schema()._schema
TEAM = CostModel(page_size=100, list_slack=1, detail_reads=1, count_reads=1)
N8N = CostModel(
    page_size=250, streams=2, stream_per_status=True, undated_reads=25, workflow_name_reads=1
)


def test_every_priced_field_is_in_the_schema() -> None:
    for type_name, fields in COSTED_FIELDS.items():
        graphql_type = SCHEMA.type_map.get(type_name)
        assert graphql_type is not None, type_name
        missing = fields - set(graphql_type.fields)  # type: ignore[attr-defined]
        assert not missing, (type_name, missing)


def test_every_field_priced_in_the_subgraph_is_in_its_schema() -> None:
    subgraph = build_schema(server=ServerSettings(federation=True))._schema
    for type_name, fields in SUBGRAPH_COSTED_FIELDS.items():
        missing = fields - set(subgraph.type_map[type_name].fields)  # type: ignore[attr-defined]
        assert not missing, (type_name, missing)
        assert not fields & set(SCHEMA.type_map[type_name].fields)  # type: ignore[attr-defined]


def _estimate(document: str, costs: dict[str, CostModel], max_first: int = 100) -> int:
    parsed = parse(document)
    [operation] = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walker = Walker(SCHEMA, fragments, None)
    return CostEstimate(walker, costs, max_first=max_first).operation(operation)


def test_a_page_is_priced_with_each_instances_numbers() -> None:
    document = (
        "{ executions(first: 50) { totalCount edges { node { nodeExecutions { nodeName } "
        "workflow { name } } } } }"
    )
    # team: one list page, a total, 50 details; n8n: two streams, 25 reads for queued
    # executions, and a workflow name per execution (the costliest instance's)
    assert _estimate(document, {"a": TEAM}) == 1 + 1 + 50
    assert _estimate(document, {"a": TEAM, "b": N8N}) == (1 + 1) + (2 + 25) + 50 + 50


def test_a_resumed_page_counts_the_reads_made_only_when_resuming() -> None:
    sweeping = CostModel(page_size=100, undated_reads=1, undated_on_resume=True)
    first = "{ executions(first: 5) { edges { node { id } } } }"
    resumed = '{ executions(first: 5, after: "c") { edges { node { id } } } }'
    assert (_estimate(first, {"a": sweeping}), _estimate(resumed, {"a": sweeping})) == (1, 2)


@pytest.mark.parametrize(
    "document",
    [
        "{ executions(first: 101) { edges { node { id } } } }",
        '{ instance(name: "nowhere") { executions(first: 0) { edges { node { id } } } } }',
        "{ instances { executions(first: 500) { edges { node { id } } } } }",
        "{ executions(first: 1) { edges { node { workflow { executions(first: 200) "
        "{ edges { node { id } } } } } } } }",
    ],
)
def test_every_first_is_checked_even_where_nothing_is_read(document: str) -> None:
    # an unknown instance, or a client that sees none, still has its pages checked
    for costs in ({"a": TEAM}, {}):
        with pytest.raises(FirstOutOfRange):
            _estimate(document, costs)


@pytest.mark.parametrize(
    ("document", "team", "both"),
    [
        # an event carries a listed execution: its scalars cost nothing
        ("subscription { executionEvents { type execution { id status } } }", 0, 0),
        # node data is one read per event; an n8n workflow name one more
        (
            "subscription { executionEvents { execution { nodeExecutions { nodeName } } } }",
            1,
            1,
        ),
        ("subscription { executionEvents { execution { workflow { name } } } }", 0, 1),
        # naming the team-style instance alone leaves n8n's workflow name out
        (
            'subscription { executionEvents(filter: {instances: ["a"]}) '
            "{ execution { workflow { name } } } }",
            0,
            0,
        ),
        # one execution: read in full once, then its own fields
        ('subscription { executionChanged(id: "x") { status retryOf { id } } }', 2, 2),
    ],
)
def test_a_subscription_is_priced_per_event(document: str, team: int, both: int) -> None:
    assert _estimate(document, {"a": TEAM}) == team
    assert _estimate(document, {"a": TEAM, "b": N8N}) == both
