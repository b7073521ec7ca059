"""The benchmark's workloads: the GraphQL each sends to the gateway, and how answers are compared.

W1  20 team-style executions with their node executions
W2  20 n8n executions with their node executions (the list read with includeData)
W3  the merged feed over all three instances, ``first: 50``, with node executions
W4  100 team-style executions with their node executions
W5  the merged feed, ``first: 50``, without node data
W6  50 executions refetched by global ID in one ``nodes(ids:)`` query

Each is an operation with one variable, and every request carries its own value of it
(``bench/bodies.py``): W1-W5 a distinct far-future ``startedBefore`` (the same executions, a new
backend URL every time: the team-style API gets it as ``to``, n8n as ``startedBefore``), W6 its
ids in a distinct order. ``gateway_bodies`` and ``baseline_bodies`` make the two sides' bodies
with the same value for the same request number.

Every answer (the gateway's or the baseline's) reduces to a *fingerprint*: the sorted
``(nativeId, number of node executions)`` pairs, so the runner can show that both served the
same executions with the same nodes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.bodies import MARKER, BodyMaker, template

TEAM = "acme"
N8N_PROD = "n8n-prod"
N8N_STAGING = "n8n-staging"

EXECUTION_FIELDS = (
    "id nativeId status mode startedAt finishedAt durationMs errorMessage workflow { id name }"
)
NODE_FIELDS = "nodeExecutions { nodeName nodeType status startedAt durationMs errorMessage }"
LIST_FIELDS = "id nativeId status mode startedAt finishedAt durationMs errorMessage"


def _feed(key: str, first: int, instances: Sequence[str] | None, node: str) -> str:
    """A feed page as an operation whose ``$before`` (``startedBefore``) varies per request."""
    where = "startedBefore: $before"
    if instances is not None:
        names = ", ".join(json.dumps(n) for n in instances)
        where = f"instances: [{names}], {where}"
    return (
        f"query {key}($before: DateTime) {{ executions(first: {first}, filter: {{{where}}}) "
        f"{{ pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {node} }} }} }} }}"
    )


@dataclass(frozen=True, slots=True)
class Workload:
    key: str
    title: str
    first: int
    query: str
    """The GraphQL operation; its one variable is ``vary`` (``$before``, or W6's ``$ids``)."""
    nodes: bool
    """Whether the answer carries node executions."""
    vary: str = "before"


WORKLOADS: dict[str, Workload] = {
    w.key: w
    for w in (
        Workload(
            "W1",
            "20 team executions with nodes",
            20,
            _feed("W1", 20, [TEAM], f"{EXECUTION_FIELDS} {NODE_FIELDS}"),
            True,
        ),
        Workload(
            "W2",
            "20 n8n executions with nodes",
            20,
            _feed("W2", 20, [N8N_PROD], f"{EXECUTION_FIELDS} {NODE_FIELDS}"),
            True,
        ),
        Workload(
            "W3",
            "merged feed of 3 instances, first 50, with nodes",
            50,
            _feed("W3", 50, None, f"{EXECUTION_FIELDS} instance {{ name }} {NODE_FIELDS}"),
            True,
        ),
        Workload(
            "W4",
            "100 team executions with nodes",
            100,
            _feed("W4", 100, [TEAM], f"{EXECUTION_FIELDS} {NODE_FIELDS}"),
            True,
        ),
        Workload(
            "W5",
            "merged feed of 3 instances, first 50, no nodes",
            50,
            _feed("W5", 50, None, f"{LIST_FIELDS} instance {{ name }} workflow {{ id }}"),
            False,
        ),
        Workload(
            "W6",
            "refetch 50 executions by nodes(ids:)",
            50,
            "query W6($ids: [ID!]!) { nodes(ids: $ids) { ... on Execution { "
            f"{EXECUTION_FIELDS} {NODE_FIELDS} }} }} }}",
            True,
            vary="ids",
        ),
    )
}


def gateway_bodies(
    workload: str, ids: Sequence[str] = (), *, start: int = 0, identical: bool = False
) -> BodyMaker:
    """The gateway's bodies for ``workload``: its operation with a distinct ``$before`` per
    request (W6: the ``ids`` in a distinct order per request)."""
    spec = WORKLOADS[workload]
    document = {"query": spec.query, "variables": {spec.vary: MARKER}}
    if spec.vary == "ids":
        return BodyMaker(template(document), "permute", list(ids), start, identical)
    return BodyMaker(template(document), "date", (), start, identical)


def baseline_bodies(
    workload: str, ids: Sequence[str] = (), *, start: int = 0, identical: bool = False
) -> BodyMaker:
    """The direct baseline's bodies, carrying the same value as ``gateway_bodies`` gives the
    gateway for the same number: ``{"before": ...}``, or W6's ``{"ids": [[instance, id],
    ...]}`` in the same order."""
    if WORKLOADS[workload].vary == "ids":
        refs = [list(execution_ref(i)) for i in ids]
        return BodyMaker(template({"ids": MARKER}), "permute", refs, start, identical)
    return BodyMaker(template({"before": MARKER}), "date", (), start, identical)


def execution_ref(global_id: str) -> tuple[str, str]:
    """(instance, native id) of an execution's global ID (base64 of ``Execution:inst:id``)."""
    raw = base64.b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    type_name, _, key = raw.partition(":")
    if type_name != "Execution":
        raise ValueError(f"not an execution ID: {global_id}")
    instance, _, native = key.partition(":")
    return instance, native


def body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    document: dict[str, Any] = {"query": query}
    if variables:
        document["variables"] = variables
    return json.dumps(document).encode()


def _executions(answer: Any) -> list[dict[str, Any]]:
    data = answer.get("data") or {}
    if "listTeamExecutions" in data:  # Hive Gateway over the team-style OpenAPI
        return [
            {**item, "nativeId": item["id"], **(item.get("details") or {})}
            for item in data["listTeamExecutions"]["content"]
        ]
    if "executions" in data and isinstance(data["executions"], dict):
        return [edge["node"] for edge in data["executions"]["edges"]]
    if "executions" in data:  # the baseline's shape: a plain list
        return list(data["executions"])
    if isinstance(data.get("nodes"), list):
        return [node for node in data["nodes"] if isinstance(node, dict)]
    return [value for value in data.values() if isinstance(value, dict)]


def fingerprint(answer: Any) -> list[tuple[str, int]]:
    """Sorted (nativeId, node executions) of every execution in an answer."""
    return sorted(
        (str(e["nativeId"]), len(e.get("nodeExecutions") or ())) for e in _executions(answer)
    )


def describe(print_: list[tuple[str, int]]) -> str:
    nodes = sum(n for _, n in print_)
    return f"{len(print_)} ex / {nodes} nodes"
