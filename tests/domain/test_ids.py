"""The global ID codec (``domain/ids.py``) writes and reads exactly what strawberry's
``relay.GlobalID`` does, so the MCP tools and the GraphQL API share every ID."""

from __future__ import annotations

import pytest
from strawberry import relay

from execgate.domain import ids
from execgate.domain.keys import ExecutionKey, WorkflowKey

KEYS = [
    ("Execution", "n8n-prod:450"),
    ("Execution", "acme:635f195d-29c8-4d64-883c-abd21e345b5c"),
    ("Workflow", "acme:n2c7V9Jl8BfLEDjh"),
    ("NodeExecution", "n8n:12:Ticket Webhook#0"),
    ("Instance", "ünïcode-name"),
]


@pytest.mark.parametrize(("type_name", "key"), KEYS)
def test_encoding_is_relays(type_name: str, key: str) -> None:
    encoded = ids.encode(type_name, key)
    assert encoded == str(relay.GlobalID(type_name, key))
    assert ids.decode(encoded) == (type_name, key)
    parsed = relay.GlobalID.from_id(encoded)
    assert (parsed.type_name, parsed.node_id) == (type_name, key)


def test_execution_ids_round_trip() -> None:
    key = ExecutionKey("n8n-prod", "450")
    assert ids.execution_key(ids.execution_id(key)) == key
    assert ids.workflow_key(ids.encode("Workflow", "acme:w1")) == WorkflowKey("acme", "w1")


@pytest.mark.parametrize(
    "raw",
    [
        "450",
        "not base64 at all!",
        ids.encode("Other", "x:1"),
        ids.encode("Execution", ""),
        "//79",  # base64 of bytes that are not UTF-8
        "ü",
    ],
)
def test_anything_else_is_invalid_id(raw: str) -> None:
    with pytest.raises(ids.InvalidID) as caught:
        ids.execution_key(raw)
    assert caught.value.code == "INVALID_ID"


def test_an_id_of_another_type_is_refused() -> None:
    with pytest.raises(ids.InvalidID, match="expected the ID of an Execution"):
        ids.execution_key(ids.encode("Workflow", "acme:w1"))
