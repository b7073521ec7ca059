"""The cost of an operation in backend requests, estimated from its AST before it runs.

One walk over the operation (``api/walk.py``: fragments flattened, variables and
``@skip``/``@include`` resolved) prices every field that reads from a backend with the numbers
each instance's adapter states (``CostModel``, through ``Gateway.costs``), for the instances the
client's scope (and the operation's filters) select; a field's children are multiplied by how
many objects it returns. The same walk checks every ``first`` against ``max_first``. In short:

- ``executions(first: N)``: each selected instance's list requests (``CostModel.list_reads``:
  pages, streams, reads for executions that have not started); plus N detail requests per
  execution read when node data (``nodeExecutions``, ``inputData``, ``outputData``) is selected
  (the costliest selected instance; the page holds at most N executions); plus each instance's
  reads for ``totalCount``; the executions' own fields count N times. ``Instance.executions`` and
  ``Workflow.executions`` are priced the same way for the one instance they read (the costliest
  candidate when it is not known yet), times the size of the list they sit in.
- ``node``, ``execution``, ``workflow``, ``retryOf``, ``retrySuccess``: 1 each;
  ``nodes(ids:)``: one per id; ``retries``: ``RETRY_CHAIN_READS``; a workflow's ``name``: the
  costliest selected instance's ``workflow_name_reads``.
- The federation subgraph's ``_entities(representations:)``: like ``nodes(ids:)``, one per
  representation, each with what is selected on any of the entity types.
- Mutations: 2 per execution (a read, then the write), plus 1 when the payload's
  ``execution`` is selected.
- ``executionStats``: the list reads its answer will make (``Gateway.estimate_stats``: for an
  instance whose statistics are kept, its head, active executions and count; otherwise the lean
  list reads of ``max_stats_executions``), counted apart in ``stats_reads``: they are bounded
  by ``max_stats_executions`` rather than by ``max_backend_calls``. What they depend on (kept
  statistics) changes between requests, so an operation that asks for statistics is walked
  every time (``volatile``).
- A node list (``nodeExecutions``) counts as ``NODES_PER_EXECUTION`` objects for what is
  selected below it.
- Subscriptions are priced per event, the selection each event executes: an
  ``ExecutionEvent``'s ``execution`` costs 1 when node data is selected (an event carries a
  listed execution, without it) plus its fields; ``executionChanged`` 1 (the execution read
  in full) plus its fields. The live poll itself is shared and costs a subscription nothing.

Fields the model does not know cost nothing themselves; their children still count (and are
still checked), as do the children of fields that read nothing (an unknown instance).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graphql import GraphQLNamedType, OperationDefinitionNode, SelectionSetNode

from execgate.api.walk import DETAIL_FIELDS, Selected, Walker, wants_detail
from execgate.domain.errors import InvalidArgument
from execgate.domain.models import CostModel

RETRY_CHAIN_READS = 3
NODES_PER_EXECUTION = 10
SINGLE_MUTATIONS = frozenset({"cancelExecution", "retryExecution", "deleteExecution"})
BULK_MUTATIONS = frozenset({"cancelExecutions", "deleteExecutions"})
LINKS = frozenset({"retryOf", "retrySuccess"})
BY_ID = frozenset({"node", "execution", "workflow"})

COSTED_FIELDS: dict[str, frozenset[str]] = {
    "Query": frozenset({"instances", "instance", "executions", "nodes", "executionStats"} | BY_ID),
    "Mutation": SINGLE_MUTATIONS | BULK_MUTATIONS,
    "Subscription": frozenset({"executionEvents", "executionChanged"}),
    "ExecutionEvent": frozenset({"execution"}),
    "Instance": frozenset({"executions"}),
    "Workflow": frozenset({"executions", "name"}),
    "Execution": frozenset({"nodeExecutions", "retries"} | LINKS | DETAIL_FIELDS),
    "ExecutionConnection": frozenset({"totalCount", "edges", "nodes"}),
    "ExecutionEdge": frozenset({"node"}),
}
"""Type → the fields this model prices by name (a test checks them against the schema, so a
renamed field cannot silently cost nothing)."""

ENTITIES = "_entities"
SUBGRAPH_COSTED_FIELDS: dict[str, frozenset[str]] = {"Query": frozenset({ENTITIES})}
"""The fields priced only in the federation subgraph's schema (``[server] federation``)."""

VALUE = "value"
NULLNESS = "nullness"
LENGTH = "length"
VARIABLE_USES: dict[str, str | dict[str, str]] = {
    "first": VALUE,
    "name": VALUE,
    "after": NULLNESS,
    "ids": LENGTH,
    "representations": LENGTH,
    "filter": {
        "instances": VALUE,
        "status": VALUE,
        "startedAfter": NULLNESS,
        "startedBefore": NULLNESS,
    },
}
"""Argument → what this walk reads of it (of an input object, per field): its value, only
whether it is given, or only its length. Nothing else of an operation's variables changes its
estimate (directive conditions aside); ``api/passes.py`` remembers passes by these readings, so
this table must follow every ``args.get`` below."""

Instances = frozenset[str]
StatsPricer = Callable[[Mapping[str, Any], Instances], int]
"""Prices one ``executionStats`` (its coerced arguments, the instances in view)."""


class FirstOutOfRange(InvalidArgument):
    """A ``first`` outside 1..``max_first``, found before any backend call."""


class CostEstimate:
    """Prices one operation for a client who sees ``costs`` (instance name → its costs)."""

    def __init__(
        self,
        walker: Walker,
        costs: Mapping[str, CostModel],
        *,
        max_first: int,
        stats: StatsPricer | None = None,
    ) -> None:
        self.walker = walker
        self.costs = dict(costs)
        self.max_first = max_first
        self.stats = stats
        self.stats_reads = 0
        """Backend requests of the operation's ``executionStats`` (not in the estimate)."""
        self.stats_errors = False
        """Whether any ``executionStats`` groups by ``ERROR``."""
        self.volatile = False
        """Whether the estimate depends on more than the operation (kept statistics)."""

    def operation(self, operation: OperationDefinitionNode) -> int:
        """The estimate; raises ``FirstOutOfRange`` for a ``first`` out of range anywhere."""
        root = self.walker.root(operation)
        if root is None:
            return 0
        return self._selection(operation.selection_set, root, frozenset(self.costs))

    def _selection(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType, where: Instances
    ) -> int:
        return sum(self._field(f, where) for f in self.walker.fields(selection_set, parent))

    def _children(self, field: Selected, where: Instances) -> int:
        child = field.child_type
        if child is None or field.node.selection_set is None:
            return 0
        return self._selection(field.node.selection_set, child, where)

    def _checked(self, children: int, count: int) -> int:
        """``count`` times the children's cost, the children walked (and checked) even when
        ``count`` is 0."""
        return count * children

    def _field(self, field: Selected, where: Instances) -> int:
        parent, name = field.parent.name, field.name
        if name.startswith("__"):
            return 0
        args = self.walker.arguments(field) or {}
        self._check_first(field, args)
        if parent == "Query":
            return self._query_field(field, name, args, where)
        if parent == "Mutation":
            return self._mutation_field(field, name, args, where)
        if parent == "Subscription":
            return self._subscription_field(field, name, args, where)
        if name == "execution" and parent == "ExecutionEvent":
            detail = any(f.name in DETAIL_FIELDS for f in self._fields_of(field))
            return int(detail) + self._children(field, where)
        if name == "executions" and parent in ("Instance", "Workflow"):
            costs = [self._feed(field, args, frozenset({one})) for one in where]
            return max(costs) if costs else self._checked(self._feed(field, args, where), 0)
        if name in LINKS:
            return 1 + self._children(field, where)
        if name == "retries":
            return RETRY_CHAIN_READS * (1 + self._children(field, where))
        if name == "nodeExecutions":
            return NODES_PER_EXECUTION * self._children(field, where)
        if name == "execution" and parent.endswith("Payload"):
            return 1 + self._children(field, where)
        if name == "name" and parent == "Workflow":
            return max((self.costs[one].workflow_name_reads for one in where), default=0)
        return self._children(field, where)

    def _check_first(self, field: Selected, args: Mapping[str, Any]) -> None:
        if field.definition is None or "first" not in field.definition.args:
            return
        first = args.get("first")
        if isinstance(first, int) and not isinstance(first, bool):
            top = self.max_first
            if first < 1 or first > top:
                raise FirstOutOfRange(f"'first' must be between 1 and {top}, got {first}")

    def _query_field(
        self, field: Selected, name: str, args: Mapping[str, Any], where: Instances
    ) -> int:
        if name == "instances":
            per_instance = [self._children(field, frozenset({one})) for one in where]
            return sum(per_instance) if where else self._checked(self._children(field, where), 0)
        if name == "instance":
            wanted = args.get("name")
            if wanted in where:
                return self._children(field, frozenset({wanted}))
            return self._checked(self._children(field, frozenset()), 0)
        if name == "executions":
            return self._feed(field, args, where)
        if name == "executionStats":
            self.volatile = True
            if self.stats is not None:
                self.stats_reads += self.stats(args, where)
            self.stats_errors |= any(_name(d) == "ERROR" for d in args.get("groupBy") or [])
            return self._children(field, where)
        if name in BY_ID:
            return 1 + self._children(field, where)
        if name == "nodes":
            count = _length(args.get("ids"))
            return count * (1 + self._children(field, where))
        if name == ENTITIES:
            count = _length(args.get("representations"))
            return count * (1 + self._children(field, where))
        return self._children(field, where)

    def _mutation_field(
        self, field: Selected, name: str, args: Mapping[str, Any], where: Instances
    ) -> int:
        each = 2 + self._children(field, where)
        if name in SINGLE_MUTATIONS:
            return each
        if name in BULK_MUTATIONS:
            return _length(args.get("ids")) * each
        return self._children(field, where)

    def _subscription_field(
        self, field: Selected, name: str, args: Mapping[str, Any], where: Instances
    ) -> int:
        """One event of a subscription (see the module docstring)."""
        if name == "executionChanged":
            return 1 + self._children(field, where)
        raw_filter = args.get("filter") or {}
        named = raw_filter.get("instances") if isinstance(raw_filter, Mapping) else None
        return self._children(field, where if not named else where & frozenset(named))

    def _feed(self, field: Selected, args: Mapping[str, Any], where: Instances) -> int:
        """One page of the executions connection over the instances in ``where``."""
        first = args.get("first")
        if not isinstance(first, int) or isinstance(first, bool) or first < 1:
            return self._checked(self._children(field, where), 0)  # refused by the resolver
        raw_filter = args.get("filter") or {}
        named = raw_filter.get("instances") if isinstance(raw_filter, Mapping) else None
        selected = where if not named else where & frozenset(named)
        statuses = raw_filter.get("status") if isinstance(raw_filter, Mapping) else None
        status_names = frozenset(_name(s) for s in statuses) if isinstance(statuses, list) else ()
        dated = isinstance(raw_filter, Mapping) and any(
            raw_filter.get(key) is not None for key in ("startedAfter", "startedBefore")
        )
        resuming = args.get("after") is not None
        models = [self.costs[name] for name in sorted(selected)]
        cost = sum(
            model.list_reads(first, status_names, dated=dated, resuming=resuming)
            for model in models
        )
        connection = field.child_type
        if connection is None or field.node.selection_set is None:
            return cost
        if wants_detail(self.walker, field.node.selection_set, connection):
            cost += first * max((model.detail_reads for model in models), default=0)
        for part in self.walker.fields(field.node.selection_set, connection):
            if part.name == "totalCount":
                cost += sum(model.count_reads for model in models)
            for node in self._nodes_of(part):
                cost += first * self._children(node, selected)
        return cost

    def _nodes_of(self, part: Selected) -> list[Selected]:
        """The Execution-typed selections of a connection field (``nodes`` or ``edges.node``)."""
        if part.name == "nodes":
            return [part]
        if part.name == "edges":
            return [f for f in self._fields_of(part) if f.name == "node"]
        return []

    def _fields_of(self, field: Selected) -> list[Selected]:
        child = field.child_type
        if child is None:
            return []
        return list(self.walker.fields(field.node.selection_set, child))


def _name(status: object) -> str:
    """A status filter value's name, whether it arrives as an enum member or a string."""
    return str(getattr(status, "name", status))


def _length(value: object) -> int:
    return len(value) if isinstance(value, list) else 1
