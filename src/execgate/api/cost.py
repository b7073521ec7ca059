"""The cost of an operation in backend requests, estimated from its AST before it runs.

Every field that reads from a backend is priced with the per-kind numbers of
``service.costs``, for the instances the client's scope (and the operation's filters) select;
a field's children are multiplied by how many objects it returns. In short:

- ``executions(first: N)``: each selected instance's list requests; plus N detail requests when
  node data (``nodeExecutions``, ``inputData``, ``outputData``) is selected and a team-style
  instance is among them (the page holds at most N executions); plus one request per team-style
  instance for ``totalCount``; the executions' own fields count N times. ``Instance.executions``
  and ``Workflow.executions`` are priced the same way for the one instance they read (the
  costliest candidate when it is not known yet), times the size of the list they sit in.
- ``node``, ``execution``, ``workflow``, ``retryOf``, ``retrySuccess``: 1 each;
  ``nodes(ids:)``: one per id; ``retries``: ``RETRY_CHAIN_READS``; a workflow's ``name``: 1
  when it may be on an instance whose lists do not carry names.
- Mutations: 2 per execution (a read, then the write), plus 1 when the payload's
  ``execution`` is selected.
- A node list (``nodeExecutions``) counts as ``NODES_PER_EXECUTION`` objects for what is
  selected below it.

Fields the model does not know cost nothing themselves; their children still count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import GraphQLNamedType, OperationDefinitionNode, SelectionSetNode

from execgate.api.walk import Selected, Walker
from execgate.domain.models import BackendKind
from execgate.service.costs import count_calls, detail_calls, list_calls, workflow_name_calls

RETRY_CHAIN_READS = 3
NODES_PER_EXECUTION = 10
_DETAIL_FIELDS = frozenset({"nodeExecutions", "inputData", "outputData"})
_SINGLE_MUTATIONS = frozenset({"cancelExecution", "retryExecution", "deleteExecution"})
_BULK_MUTATIONS = frozenset({"cancelExecutions", "deleteExecutions"})
_LINKS = frozenset({"retryOf", "retrySuccess"})
_BY_ID = frozenset({"node", "execution", "workflow"})

Instances = frozenset[str]


class CostEstimate:
    """Prices one operation for a client who sees ``kinds`` (instance name → kind)."""

    def __init__(self, walker: Walker, kinds: Mapping[str, BackendKind]) -> None:
        self.walker = walker
        self.kinds = dict(kinds)

    def operation(self, operation: OperationDefinitionNode) -> int:
        root = self.walker.root(operation)
        if root is None:
            return 0
        return self._selection(operation.selection_set, root, frozenset(self.kinds))

    def _selection(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType, where: Instances
    ) -> int:
        return sum(self._field(f, where) for f in self.walker.fields(selection_set, parent))

    def _children(self, field: Selected, where: Instances) -> int:
        child = field.child_type
        if child is None or field.node.selection_set is None:
            return 0
        return self._selection(field.node.selection_set, child, where)

    def _field(self, field: Selected, where: Instances) -> int:
        parent, name = field.parent.name, field.name
        if name.startswith("__"):
            return 0
        args = self.walker.arguments(field) or {}
        if parent == "Query":
            return self._query_field(field, name, args, where)
        if parent == "Mutation":
            return self._mutation_field(field, name, args, where)
        if name == "executions" and parent in ("Instance", "Workflow"):
            return max((self._feed(field, args, frozenset({one})) for one in where), default=0)
        if name in _LINKS:
            return 1 + self._children(field, where)
        if name == "retries":
            return RETRY_CHAIN_READS * (1 + self._children(field, where))
        if name == "nodeExecutions":
            return NODES_PER_EXECUTION * self._children(field, where)
        if name == "execution" and parent.endswith("Payload"):
            return 1 + self._children(field, where)
        if name == "name" and parent == "Workflow":
            return max((workflow_name_calls(self.kinds[one]) for one in where), default=0)
        return self._children(field, where)

    def _query_field(
        self, field: Selected, name: str, args: Mapping[str, Any], where: Instances
    ) -> int:
        if name == "instances":
            return sum(self._children(field, frozenset({one})) for one in where)
        if name == "instance":
            wanted = args.get("name")
            return self._children(field, frozenset({wanted})) if wanted in where else 0
        if name == "executions":
            return self._feed(field, args, where)
        if name in _BY_ID:
            return 1 + self._children(field, where)
        if name == "nodes":
            count = _length(args.get("ids"))
            return count * (1 + self._children(field, where))
        return self._children(field, where)

    def _mutation_field(
        self, field: Selected, name: str, args: Mapping[str, Any], where: Instances
    ) -> int:
        each = 2 + self._children(field, where)
        if name in _SINGLE_MUTATIONS:
            return each
        if name in _BULK_MUTATIONS:
            return _length(args.get("ids")) * each
        return self._children(field, where)

    def _feed(self, field: Selected, args: Mapping[str, Any], where: Instances) -> int:
        """One page of the executions connection over the instances in ``where``."""
        first = args.get("first")
        if not isinstance(first, int) or isinstance(first, bool) or first < 1:
            return 0  # refused by the resolver before any backend call
        raw_filter = args.get("filter") or {}
        named = raw_filter.get("instances") if isinstance(raw_filter, Mapping) else None
        selected = where if not named else where & frozenset(named)
        statuses = raw_filter.get("status") if isinstance(raw_filter, Mapping) else None
        status_names = frozenset(_name(s) for s in statuses) if isinstance(statuses, list) else ()
        kinds = [self.kinds[name] for name in sorted(selected)]
        cost = sum(list_calls(kind, first, status_names) for kind in kinds)
        connection = field.child_type
        if connection is None or field.node.selection_set is None:
            return cost
        for part in self.walker.fields(field.node.selection_set, connection):
            if part.name == "totalCount":
                cost += sum(count_calls(kind) for kind in kinds)
            for node in self._nodes_of(part):
                if any(f.name in _DETAIL_FIELDS for f in self._fields_of(node)):
                    cost += first * max((detail_calls(kind) for kind in kinds), default=0)
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
