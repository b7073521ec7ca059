"""The benchmark's workloads: the GraphQL each sends to the gateway, and how answers are compared.

W1  20 team-style executions with their node executions
W2  20 n8n executions with their node executions (the list read with includeData)
W3  the merged feed over all three instances, ``first: 50``, with node executions
W4  100 team-style executions with their node executions
W5  the merged feed, ``first: 50``, without node data
W6  50 executions refetched by global ID in one ``nodes(ids:)`` query

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

TEAM = "acme"
N8N_PROD = "n8n-prod"
N8N_STAGING = "n8n-staging"

EXECUTION_FIELDS = (
    "id nativeId status mode startedAt finishedAt durationMs errorMessage workflow { id name }"
)
NODE_FIELDS = "nodeExecutions { nodeName nodeType status startedAt durationMs errorMessage }"
LIST_FIELDS = "id nativeId status mode startedAt finishedAt durationMs errorMessage"


def _feed(first: int, instances: Sequence[str] | None, node: str) -> str:
    where = ""
    if instances is not None:
        names = ", ".join(json.dumps(n) for n in instances)
        where = f", filter: {{instances: [{names}]}}"
    return (
        f"query {{ executions(first: {first}{where}) {{ pageInfo {{ hasNextPage endCursor }} "
        f"edges {{ node {{ {node} }} }} }} }}"
    )


@dataclass(frozen=True, slots=True)
class Workload:
    key: str
    title: str
    first: int
    query: str
    """The GraphQL document (W6: built per run by ``refetch_query``)."""
    nodes: bool
    """Whether the answer carries node executions."""


WORKLOADS: dict[str, Workload] = {
    w.key: w
    for w in (
        Workload(
            "W1",
            "20 team executions with nodes",
            20,
            _feed(20, [TEAM], f"{EXECUTION_FIELDS} {NODE_FIELDS}"),
            True,
        ),
        Workload(
            "W2",
            "20 n8n executions with nodes",
            20,
            _feed(20, [N8N_PROD], f"{EXECUTION_FIELDS} {NODE_FIELDS}"),
            True,
        ),
        Workload(
            "W3",
            "merged feed of 3 instances, first 50, with nodes",
            50,
            _feed(50, None, f"{EXECUTION_FIELDS} instance {{ name }} {NODE_FIELDS}"),
            True,
        ),
        Workload(
            "W4",
            "100 team executions with nodes",
            100,
            _feed(100, [TEAM], f"{EXECUTION_FIELDS} {NODE_FIELDS}"),
            True,
        ),
        Workload(
            "W5",
            "merged feed of 3 instances, first 50, no nodes",
            50,
            _feed(50, None, f"{LIST_FIELDS} instance {{ name }} workflow {{ id }}"),
            False,
        ),
        Workload("W6", "refetch 50 executions by nodes(ids:)", 50, "", True),
    )
}


def refetch_query(global_ids: Sequence[str]) -> str:
    """One ``nodes(ids:)`` field (the gateway allows at most 30 aliases per operation)."""
    ids = ", ".join(json.dumps(gid) for gid in global_ids)
    return (
        f"query {{ nodes(ids: [{ids}]) {{ ... on Execution {{ {EXECUTION_FIELDS} {NODE_FIELDS} "
        "} } }"
    )


def execution_ref(global_id: str) -> tuple[str, str]:
    """(instance, native id) of an execution's global ID (base64 of ``Execution:inst:id``)."""
    raw = base64.b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    type_name, _, key = raw.partition(":")
    if type_name != "Execution":
        raise ValueError(f"not an execution ID: {global_id}")
    instance, _, native = key.partition(":")
    return instance, native


def body(query: str) -> bytes:
    return json.dumps({"query": query}).encode()


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
