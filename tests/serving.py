"""Talking to a gateway app in process, with its lifespan run as a server would run it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from asgi_lifespan import LifespanManager


@contextlib.asynccontextmanager
async def serving(app: Any, base_url: str = "http://localhost") -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for ``app`` between its lifespan's start-up and shut-down."""
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client
