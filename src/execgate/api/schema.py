"""Assembles one schema from the settings (``create_app`` builds one per app).

With ``[server] federation`` off (the default) it is the public API; on, it is the same API as
an Apollo Federation v2 subgraph (``api/federation.py``): strawberry's federation schema with
``_service`` and ``_entities``, the nodes as entities. ``export_schema`` prints either.

Extensions, in order: ``ErrorCodes`` (first, so it codes the errors of everything after it),
``OperationName`` (the operation's name for the log lines, ``api/observe.py``),
``OperationChoice`` (a document of several operations needs ``operationName``), strawberry's
parser and validation caches, then the limits (``api/limits.py``: strawberry's stock limiters
and the cost estimate). With ``[server] fast_executor`` on, the schema runs ``InlineExecutor``
(``api/execution.py``) when ``api/compat.py`` finds the installed strawberry and graphql-core
to be the ones it was written against; otherwise strawberry's own executor, with one log line
saying what differed.

``[cache] operations`` bounds every memory the schema keeps: parsed and validated documents,
operations that passed the cost walk, the executor's shared row plans, converted node runs
(that many executions) and remembered ``DateTime`` serialisations (``MOMENTS_PER_OPERATION``
times as many).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.federation.schema import FederationAny
from strawberry.types import ExecutionContext

from execgate.api import compat
from execgate.api.context import Info, NodeRunsMemo
from execgate.api.errors import ErrorCodes
from execgate.api.execution import EventExecutor, executor_for
from execgate.api.federation import (
    ENTITIES,
    FEDERATION_VERSION,
    check_representation,
    subgraph_types,
)
from execgate.api.limits import TokenLimit, limit_extensions
from execgate.api.mutations import Mutation
from execgate.api.observe import OperationName
from execgate.api.operation import OperationChoice
from execgate.api.queries import Query
from execgate.api.subscriptions import Subscription
from execgate.api.types import ExecutionNode, InstanceNode, NodeExecutionNode, WorkflowNode
from execgate.config.settings import CacheSettings, LimitSettings, ServerSettings
from execgate.domain.errors import ExecgateError

log = logging.getLogger("execgate.api")

MOMENTS_PER_OPERATION = 16
"""``DateTime`` serialisations remembered per ``[cache] operations``."""


class ExecgateSchema(strawberry.Schema):
    """The gateway's schema, with what it was built from."""

    limits: LimitSettings
    node_runs: NodeRunsMemo
    fast: bool
    """Whether it runs ``InlineExecutor``."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            TokenLimit.code(error, self.limits.max_tokens)
            if error.original_error is not None and not isinstance(
                error.original_error, ExecgateError | GraphQLError
            ):
                log.error("unexpected error", exc_info=error.original_error)


class SubgraphSchema(ExecgateSchema, strawberry.federation.Schema):
    """The gateway's schema as a federation subgraph (``[server] federation = true``)."""

    def entities_resolver(self, info: Info, representations: list[FederationAny]) -> list[Any]:
        """Strawberry's ``_entities``, for the representations that name an entity of this
        subgraph; each other one resolves to its error (``null`` with ``BAD_USER_INPUT``)
        instead of failing the whole field."""
        checked = [check_representation(raw, ENTITIES) for raw in representations]
        valid = [item for item in checked if isinstance(item, dict)]
        resolved = iter(super().entities_resolver(info, valid))  # type: ignore[arg-type]
        return [next(resolved) if isinstance(item, dict) else item for item in checked]


def build_schema(
    limits: LimitSettings | None = None,
    server: ServerSettings | None = None,
    cache: CacheSettings | None = None,
    *,
    extensions: Sequence[type[SchemaExtension] | Callable[[], SchemaExtension]] = (),
) -> ExecgateSchema:
    """The schema for these settings (defaults where omitted); ``extensions`` run after the
    gateway's own (a tracing extension, say)."""
    limits = limits or LimitSettings()
    server = server or ServerSettings()
    cache = cache or CacheSettings()
    operations = cache.operations
    stock: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        ErrorCodes,
        OperationName,
        OperationChoice,
        lambda: ParserCache(maxsize=operations),
        lambda: ValidationCache(maxsize=operations),
        *limit_extensions(limits, server, operations=operations),
        *extensions,
    ]
    built: ExecgateSchema
    if server.federation:
        subgraph = subgraph_types()
        built = SubgraphSchema(
            query=subgraph.query,
            mutation=subgraph.mutation,
            types=subgraph.types,
            extensions=stock,
            federation_version=FEDERATION_VERSION,
        )
    else:
        built = ExecgateSchema(
            query=Query,
            mutation=Mutation,
            subscription=Subscription,
            types=[InstanceNode, WorkflowNode, ExecutionNode, NodeExecutionNode],
            extensions=stock,
        )
    built.limits = limits
    # Node runs come back as the same tuple only from the execution cache.
    built.node_runs = NodeRunsMemo(operations if cache.enabled else 0)
    built.fast = False
    built.execution_context_class = EventExecutor
    if server.fast_executor:
        differences = compat.check()
        if differences:
            log.warning(
                "fast executor off, strawberry's own runs instead: %s", "; ".join(differences)
            )
        else:
            built.execution_context_class = executor_for(
                built._schema, operations=operations, moments=operations * MOMENTS_PER_OPERATION
            )
            built.fast = True
    return built


def export_schema(*, federation: bool = False) -> str:
    """The SDL of the public schema (the same whatever the other settings), or with
    ``federation`` the subgraph's (what ``_service { sdl }`` answers)."""
    return build_schema(server=ServerSettings(fast_executor=False, federation=federation)).as_str()
