"""execgate as an Apollo Federation v2 subgraph: its nodes as entities, keyed by global ID.

With ``[server] federation = true`` the schema (``api/schema.py``) is strawberry's federation
schema over ``subgraph_types()``: the public API's types declared again (``api/twins.py``) so
that only the subgraph carries the federation directives:

- ``Execution``, ``NodeExecution``, ``Instance`` and ``Workflow`` are entities,
  ``@key(fields: "id")`` on the global ID that ``node(id:)`` takes;
- ``PageInfo`` is ``@shareable`` (other subgraphs define the same Relay type);
- strawberry adds ``_service { sdl }`` (with the ``@link`` to federation ``FEDERATION_VERSION``)
  and ``_entities(representations:)``.

Each representation is resolved the way ``node(id:)`` resolves an ID: through the request's
loaders, so representations of one execution are read once, reads of one instance go out in one
batch bounded by its concurrency, and the cache answers what it holds; through the client's
scoped gateway, so an instance the client may not see answers ``null`` and its backend receives
nothing. An ID that names nothing is ``null``; a malformed one, or one of another type, is
``null`` with ``INVALID_ID``. A representation that is not an object naming one of these
entities is ``null`` with ``BAD_USER_INPUT`` (``check_representation``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from functools import cache
from typing import Any, Final, NamedTuple

import strawberry
from strawberry.types.base import StrawberryObjectDefinition

from execgate.api import ids
from execgate.api.context import Info
from execgate.api.mutations import Mutation
from execgate.api.queries import Query
from execgate.api.twins import twin_types
from execgate.api.types import ExecutionNode, InstanceNode, NodeExecutionNode, WorkflowNode
from execgate.domain.errors import InvalidArgument
from execgate.domain.keys import ExecutionKey, NodeExecutionKey, WorkflowKey

FEDERATION_VERSION: Final = "2.3"
"""The federation spec the subgraph links to: every directive it uses (``@key``, ``@shareable``)
is in it, and every Federation 2 gateway and composition library reads it."""

ENTITY_KEY = "id"
SHAREABLE = frozenset({"PageInfo"})
"""Value types other subgraphs commonly define too."""


class InvalidRepresentation(InvalidArgument):
    """An ``_entities`` representation that names none of this subgraph's entities."""


def _id_of(type_name: str, fields: Mapping[str, Any]) -> str:
    raw = fields.get(ENTITY_KEY)
    if not isinstance(raw, str):
        raise ids.InvalidID(f"a representation of {type_name} needs its global ID in 'id'")
    return raw


async def _execution(cls: type[ExecutionNode], info: Info, key: ExecutionKey) -> Any:
    found = await info.context.loaders.execution_detail(key)
    return None if found is None else cls.from_domain(found, node_runs=info.context.node_runs)


def _resolve_execution(cls: type[ExecutionNode], info: Info, **fields: Any) -> Awaitable[Any]:
    return _execution(cls, info, ids.execution_key(_id_of("Execution", fields)))


async def _node_execution(cls: type[NodeExecutionNode], info: Info, key: NodeExecutionKey) -> Any:
    execution = await info.context.loaders.execution_detail(key.execution)
    for run in (execution.node_executions or ()) if execution is not None else ():
        if run.key == key:
            return cls.from_domain(run)
    return None


def _resolve_node_execution(
    cls: type[NodeExecutionNode], info: Info, **fields: Any
) -> Awaitable[Any]:
    return _node_execution(cls, info, ids.node_execution_key(_id_of("NodeExecution", fields)))


async def _workflow(cls: type[WorkflowNode], info: Info, key: WorkflowKey) -> Any:
    found = await info.context.loaders.workflow_of(key)
    return None if found is None else cls.build(key, found.name)


def _resolve_workflow(cls: type[WorkflowNode], info: Info, **fields: Any) -> Awaitable[Any]:
    return _workflow(cls, info, ids.workflow_key(_id_of("Workflow", fields)))


def _resolve_instance(cls: type[InstanceNode], info: Info, **fields: Any) -> Any:
    name = ids.decode_as(_id_of("Instance", fields), "Instance")
    found = info.context.gateway.instance(name)
    return None if found is None else cls.from_domain(found)


RESOLVERS: dict[type, Callable[..., Any]] = {
    ExecutionNode: _resolve_execution,
    NodeExecutionNode: _resolve_node_execution,
    InstanceNode: _resolve_instance,
    WorkflowNode: _resolve_workflow,
}
"""Entity class → how a representation of it is resolved (its twin's ``resolve_reference``)."""

ENTITIES = frozenset(
    cls.__strawberry_definition__.name  # type: ignore[attr-defined]
    for cls in RESOLVERS
)


def _decorate(twin: type, definition: StrawberryObjectDefinition) -> type:
    name = definition.name
    decorated: type = strawberry.federation.type(
        twin,
        name=name,
        description=definition.description,
        directives=definition.directives or (),
        keys=[ENTITY_KEY] if name in ENTITIES else (),
        shareable=name in SHAREABLE,
    )
    return decorated


class Subgraph(NamedTuple):
    query: type
    mutation: type
    types: list[type]
    """The entity types (the ``types`` of the schema, as the public one has its nodes)."""


@cache
def subgraph_types() -> Subgraph:
    """The subgraph's roots and entity types, declared once per process."""
    twins = twin_types(
        [Query, Mutation, *RESOLVERS],
        _decorate,
        extras={cls: {"resolve_reference": classmethod(how)} for cls, how in RESOLVERS.items()},
    )
    return Subgraph(twins[Query], twins[Mutation], [twins[cls] for cls in RESOLVERS])


def check_representation(raw: object, entities: Collection[str]) -> dict[str, Any] | Exception:
    """A copy of one representation to resolve, or the error that stands in its place."""
    if not isinstance(raw, Mapping):
        return InvalidRepresentation("a representation must be an object with a '__typename'")
    type_name = raw.get("__typename")
    if not isinstance(type_name, str) or type_name not in entities:
        known = ", ".join(sorted(entities))
        return InvalidRepresentation(f"{type_name!r} is not an entity of this subgraph ({known})")
    return dict(raw)
