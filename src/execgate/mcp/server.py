"""The MCP server: the SDK's low-level ``Server`` with execgate's tools.

Every ``tools/call`` runs the same steps, whatever the transport:

1. who calls: ``identify`` turns the transport's request (the HTTP request, whose client the
   guard in front of ``/mcp`` authenticated; ``None`` over stdio) into the caller's scope;
2. the caller's rate limit (``throttle``, the same buckets as ``/graphql``): one token a call;
3. the arguments, checked by the tool's model (``BAD_USER_INPUT``);
4. the estimated backend requests against ``max_backend_calls`` (``QUERY_TOO_EXPENSIVE``);
5. the tool, through the caller's view of the gateway, within ``request_timeout`` seconds of
   backend work.

A refusal at steps 2 to 4 of a tool that performs an action is audited (``Gateway.refused``);
from step 5 on, ``Gateway.perform`` audits it. Failures are tool errors whose text is
``CODE: message``, cleaned of backend credentials and addresses; anything unexpected is logged
here and answers ``INTERNAL_SERVER_ERROR`` with a generic message. An answer is its JSON text
and the same object as structured content.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from mcp import types
from mcp.server import Server, ServerRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from execgate.config.settings import LimitSettings, ServerSettings
from execgate.domain.access import Scope
from execgate.domain.deadline import within
from execgate.domain.errors import ExecgateError
from execgate.mcp import calls
from execgate.mcp.arguments import MAX_LIMIT, problems
from execgate.mcp.tools import BY_NAME, TOOLS, ToolSpec
from execgate.service.actions import ActionTarget
from execgate.service.gateway import Gateway

log = logging.getLogger("execgate.mcp")

SERVER_NAME = "execgate"
INSTRUCTIONS = (
    "Workflow executions of every instance behind this execgate gateway (n8n and team-style). "
    "list_instances names the instances; list_executions without 'instance' lists all of them "
    "newest first; each execution's 'globalId' works as 'id' without 'instance'. Errors start "
    "with a stable code (BAD_USER_INPUT, NOT_FOUND, FORBIDDEN, RATE_LIMITED, ...)."
)


@dataclass(frozen=True)
class Toolbox:
    """What the tools run with: the gateway (once the app runs), the ``[mcp]`` default
    instance, the limits, and the rate limit check (client name → seconds to wait)."""

    gateway: Callable[[], Gateway]
    throttle: Callable[[str], Awaitable[float]]
    default_instance: str | None = None
    max_backend_calls: int = LimitSettings().max_backend_calls
    request_timeout: float = ServerSettings().request_timeout_seconds


class Refused(Exception):
    """A call refused before its tool ran (rate, arguments, cost); audited for actions."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def build_server(
    toolbox: Toolbox, identify: Callable[[Any], Scope | None], *, version: str = ""
) -> Server[Any]:
    """The server; ``identify`` names the caller of a request (see the module's steps)."""
    definitions = [tool.definition() for tool in TOOLS]

    async def list_tools(
        ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=definitions)

    async def call_tool(
        ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool = BY_NAME.get(params.name)
        if tool is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown tool {params.name!r}")
        scope = identify(ctx.request)
        if scope is None:
            return _failure("UNAUTHENTICATED", "the client key is not valid")
        return await _call(toolbox, scope, tool, params.arguments or {})

    return Server(
        SERVER_NAME,
        version=version,
        title="execgate",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def _call(
    toolbox: Toolbox, scope: Scope, tool: ToolSpec, arguments: Mapping[str, Any]
) -> types.CallToolResult:
    gateway = toolbox.gateway().scoped(scope, max_first=MAX_LIMIT)
    call = calls.Call(gateway, toolbox.default_instance)
    clean = gateway.redact or (lambda text: text)
    try:
        args = await _admit(toolbox, call, tool, arguments)
        with within(toolbox.request_timeout):
            answer = await tool.run(call, args)
    except Refused as refusal:
        if tool.action is not None:
            gateway.refused(tool.action, [_named(call, arguments)], refusal.code)
        return _failure(refusal.code, clean(refusal.message))
    except ExecgateError as exc:
        return _failure(exc.code, clean(exc.message))
    except Exception:
        log.exception("tool %s failed", tool.name)
        return _failure("INTERNAL_SERVER_ERROR", "internal error; the server log has the details")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=orjson.dumps(answer).decode())],
        structured_content=answer,
    )


async def _admit(
    toolbox: Toolbox, call: calls.Call, tool: ToolSpec, arguments: Mapping[str, Any]
) -> Any:
    """The tool's arguments, once the caller's rate, the arguments and the cost pass."""
    client = call.gateway.scope.client
    wait = await toolbox.throttle(client)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise Refused(
            "RATE_LIMITED", f"too many requests from client {client!r}; retry in {seconds}s"
        )
    try:
        args = tool.arguments.model_validate(dict(arguments))
    except ValidationError as exc:
        raise Refused("BAD_USER_INPUT", f"invalid arguments: {problems(exc)}") from None
    try:
        cost = tool.cost(call, args)
    except ExecgateError as exc:
        raise Refused(exc.code, exc.message) from None
    if cost > toolbox.max_backend_calls:
        raise Refused(
            "QUERY_TOO_EXPENSIVE",
            f"this call would make about {cost} backend requests; the limit is "
            f"{toolbox.max_backend_calls}: ask for a smaller 'limit' or without 'includeData'",
        )
    return args


def _named(call: calls.Call, arguments: Mapping[str, Any]) -> ActionTarget:
    """The execution a refused action's arguments named, as well as they can be read."""
    raw = arguments.get("id")
    instance = arguments.get("instance")
    if not isinstance(raw, int | str) or isinstance(raw, bool) or raw == "":
        return ActionTarget(None, None, "no execution ID was given")
    named = instance if isinstance(instance, str) and instance else None
    return calls.action_target(call, named, raw)


def _failure(code: str, message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=f"{code}: {message}")], is_error=True
    )
