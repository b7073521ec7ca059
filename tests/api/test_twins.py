"""The subgraph's types are the public API's, declared again: nothing but federation differs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import strawberry
from graphql import (
    DocumentNode,
    ObjectTypeDefinitionNode,
    SchemaDefinitionNode,
    parse,
    print_ast,
)
from strawberry.types.base import StrawberryObjectDefinition

from execgate.api.federation import subgraph_types
from execgate.api.plans import STANDS_FOR, LeafPlan, field_plans
from execgate.api.queries import Query
from execgate.api.schema import build_schema, export_schema
from execgate.api.twins import reachable, twin_types
from execgate.api.types import ExecutionNode
from execgate.config import ServerSettings
from execgate.domain.keys import ExecutionKey
from execgate.domain.models import Execution, ExecutionMode, ExecutionStatus

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"
FEDERATION_TYPES = {"_Any", "_Entity", "_Service"}
FEDERATION_FIELDS = {"_entities", "_service"}
FEDERATION_KEYS = {"key", "shareable"}
SUBSCRIPTION_ONLY = {"Subscription", "ExecutionEvent", "ExecutionEventType"}
"""The live subscriptions' root and the types only it reaches: not part of the subgraph."""


def _without_federation(document: DocumentNode) -> str:
    """The SDL with the schema's ``@link``, the types' ``@key``/``@shareable``, ``_service``,
    ``_entities`` and their types taken out."""
    kept = []
    for definition in document.definitions:
        if isinstance(definition, SchemaDefinitionNode):
            continue
        name = getattr(getattr(definition, "name", None), "value", None)
        if name in FEDERATION_TYPES:
            continue
        if isinstance(definition, ObjectTypeDefinitionNode):
            definition = replace(
                definition,
                directives=tuple(
                    d for d in definition.directives or () if d.name.value not in FEDERATION_KEYS
                ),
                fields=tuple(
                    f for f in definition.fields or () if f.name.value not in FEDERATION_FIELDS
                ),
            )
        kept.append(definition)
    return print_ast(replace(document, definitions=tuple(kept)))


def test_the_subgraph_is_the_public_schema_plus_federation_only() -> None:
    # given: both SDLs, the subgraph's with what federation adds taken out, the public one's
    # with its subscriptions taken out (a subgraph serves none)
    document = parse(SCHEMA_FILE.read_text())
    names = {getattr(getattr(d, "name", None), "value", None) for d in document.definitions}
    assert names >= SUBSCRIPTION_ONLY
    kept = tuple(
        d
        for d in document.definitions
        if getattr(getattr(d, "name", None), "value", None) not in SUBSCRIPTION_ONLY
    )
    public = print_ast(replace(document, definitions=kept))
    subgraph = parse(export_schema(federation=True))
    # then: the rest is the public schema, type for type, field for field, description included
    assert _without_federation(subgraph) == public


def test_declaring_twins_leaves_the_public_types_untouched() -> None:
    # given: a twin graph of the whole API, every twin keyed (what federation does, and more)
    def keyed(twin: type, definition: StrawberryObjectDefinition) -> type:
        decorated: type = strawberry.federation.type(
            twin, name=definition.name, description=definition.description, keys=["id"]
        )
        return decorated

    twins = twin_types([Query], keyed)
    # then: the originals still print as the committed public schema
    assert ExecutionNode in twins and twins[ExecutionNode] is not ExecutionNode
    assert issubclass(twins[ExecutionNode], ExecutionNode)
    assert export_schema().strip() == SCHEMA_FILE.read_text().strip()


def test_every_object_type_the_roots_reach_is_twinned() -> None:
    subgraph = subgraph_types()
    names = {
        cls.__strawberry_definition__.name  # type: ignore[attr-defined]
        for cls in reachable([subgraph.query, subgraph.mutation, *subgraph.types])
    }
    for cls in reachable([subgraph.query, subgraph.mutation, *subgraph.types]):
        assert getattr(cls, STANDS_FOR, None) is not None, cls
    assert {"Execution", "NodeExecution", "Instance", "Workflow", "PageInfo"} <= names


def test_the_fast_executor_reads_the_ids_of_the_objects_the_resolvers_build() -> None:
    # given: the subgraph schema's plans, and an execution as a resolver builds it (the
    # original class, not the twin)
    schema = build_schema(server=ServerSettings(federation=True))
    plan = field_plans(schema._schema)["Execution"]["id"]
    execution = ExecutionNode.from_domain(
        Execution(
            key=ExecutionKey("acme", "42"),
            workflow_id="w",
            status=ExecutionStatus.SUCCESS,
            status_raw="success",
            mode=ExecutionMode.MANUAL,
            mode_raw="manual",
            finished=True,
        )
    )
    # then: its global ID is read inline, as in the public schema
    assert isinstance(plan, LeafPlan)
    assert plan.read(execution) == "RXhlY3V0aW9uOmFjbWU6NDI="
