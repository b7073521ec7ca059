"""Instance name → backend adapter; builds each instance's HTTP client and closes them all."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from execgate.backends.http import BackendHTTP, open_http
from execgate.backends.n8n import N8nBackend
from execgate.backends.team import TeamBackend
from execgate.config import InstanceSettings, Settings
from execgate.domain.models import BackendKind
from execgate.domain.ports import Backend


def build_backend(
    instance: InstanceSettings, transport: httpx.AsyncBaseTransport | None = None
) -> tuple[Backend, BackendHTTP]:
    if instance.kind is BackendKind.TEAM:
        headers = TeamBackend.auth_headers(instance.credential)
    else:
        headers = N8nBackend.auth_headers(instance.credential)
    http = open_http(instance.name, instance.base_url, headers, instance.http, transport)
    if instance.kind is BackendKind.TEAM:
        assert instance.team_id is not None
        return TeamBackend(instance.name, http, instance.team_id), http
    return N8nBackend(instance.name, http), http


class Registry:
    """The backends of one running gateway; ``aclose`` closes their clients."""

    def __init__(self, backends: Mapping[str, Backend], https: Mapping[str, BackendHTTP]) -> None:
        self.backends = dict(backends)
        self.https = dict(https)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> Registry:
        backends: dict[str, Backend] = {}
        https: dict[str, BackendHTTP] = {}
        for instance in settings.instances:
            transport = (transports or {}).get(instance.name)
            backends[instance.name], https[instance.name] = build_backend(instance, transport)
        return cls(backends, https)

    def calls(self) -> dict[str, int]:
        """Requests sent to each instance so far."""
        return {name: http.calls for name, http in self.https.items()}

    async def aclose(self) -> None:
        for http in self.https.values():
            await http.aclose()
