"""Exports of executions with their node runs: CSV, JSON and JSON lines, masked, streamed.

An entry point like ``api`` and ``mcp``: ``params`` reads a request's filter, ``formats``
writes the records, ``endpoint`` serves ``GET /export``; ``execgate export`` (the CLI) uses
``params`` and ``formats`` too. Everything read comes from the service (``Gateway.export``).
"""
