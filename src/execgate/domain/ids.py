"""Global IDs: base64 of ``TypeName:key`` (Relay's convention), decoded with clear errors.

Every entry point speaks them (the GraphQL API's ``id`` fields, the MCP tools' ``globalId``),
so the codec lives here, framework-free. The encoding is byte for byte Relay's (what
strawberry's ``relay.GlobalID`` writes and reads): standard base64, padded.

An ID longer than ``MAX_ID_LENGTH`` is refused before it is decoded, so no hostile ID reaches
a backend's URL; messages quote at most the start of the ID (``shown``).
"""

from __future__ import annotations

import base64
import binascii

from execgate.domain.errors import InvalidArgument, shown
from execgate.domain.keys import ExecutionKey, NodeExecutionKey, WorkflowKey

NODE_TYPES = ("Instance", "Workflow", "Execution", "NodeExecution")
MAX_ID_LENGTH = 512
"""The longest global ID read (base64 of the type name, an instance name and a native id)."""


class InvalidID(InvalidArgument):
    code = "INVALID_ID"


def encode(type_name: str, key: str) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode()


def decode(raw: str) -> tuple[str, str]:
    """Split a global ID into its type name and key, or raise ``InvalidID``."""
    if len(raw) > MAX_ID_LENGTH:
        raise InvalidID(
            f"an execgate ID has at most {MAX_ID_LENGTH} characters; this one has {len(raw)}"
        )
    try:
        text = base64.b64decode(raw.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidID(f"{shown(raw)} is not an execgate ID") from None
    type_name, sep, key = text.partition(":")
    if not sep or type_name not in NODE_TYPES or not key:
        raise InvalidID(f"{shown(raw)} is not an execgate ID")
    return type_name, key


def _a(type_name: str) -> str:
    """``type_name`` with its article: "an Execution", "a Workflow"."""
    return f"{'an' if type_name[:1] in 'AEIOU' else 'a'} {type_name}"


def decode_as(raw: str, type_name: str) -> str:
    kind, key = decode(raw)
    if kind != type_name:
        raise InvalidID(f"expected the ID of {_a(type_name)}, got the ID of {_a(kind)}")
    return key


def execution_id(key: ExecutionKey) -> str:
    """The global ID of the execution ``key`` names."""
    return encode("Execution", key.encode())


def execution_key(raw: str) -> ExecutionKey:
    try:
        return ExecutionKey.decode(decode_as(raw, "Execution"))
    except ValueError:
        raise InvalidID(f"{shown(raw)} is not an execution ID") from None


def workflow_key(raw: str) -> WorkflowKey:
    try:
        return WorkflowKey.decode(decode_as(raw, "Workflow"))
    except ValueError:
        raise InvalidID(f"{shown(raw)} is not a workflow ID") from None


def node_execution_key(raw: str) -> NodeExecutionKey:
    try:
        return NodeExecutionKey.decode(decode_as(raw, "NodeExecution"))
    except ValueError:
        raise InvalidID(f"{shown(raw)} is not a node execution ID") from None
