"""Global IDs for the GraphQL layer: the codec is the domain's (``domain/ids.py``), shared
with the MCP tools; strawberry's ``relay.GlobalID`` writes the same strings for ``id`` fields."""

from __future__ import annotations

from execgate.domain.ids import (
    MAX_ID_LENGTH,
    NODE_TYPES,
    InvalidID,
    decode,
    decode_as,
    encode,
    execution_key,
    node_execution_key,
    workflow_key,
)

__all__ = [
    "MAX_ID_LENGTH",
    "NODE_TYPES",
    "InvalidID",
    "decode",
    "decode_as",
    "encode",
    "execution_key",
    "node_execution_key",
    "workflow_key",
]
