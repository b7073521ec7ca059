"""The MCP tools over the service: the executions tools of seed 002 and ``list_instances``.

An entry point like ``api``: it asks the service layer (``Gateway``) for everything, under the
caller's scope, and never reaches a backend, GraphQL or the security internals. The app mounts
it at ``/mcp`` (streamable HTTP, ``endpoint.py``); ``execgate mcp`` serves it over stdio
(``stdio.py``).
"""
