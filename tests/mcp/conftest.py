"""Fixtures: one gateway with its MCP tools shared by the read-only tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mcp.harness import McpGateway, mcp_gateway


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpGateway]:
    """A gateway the module's tests only read from (its stores never change)."""
    with mcp_gateway(tmp_path_factory.mktemp("mcp")) as gateway:
        yield gateway
