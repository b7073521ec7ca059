"""Instance name → backend adapter: the settings of each instance turned into a running client.

``Registry.open`` builds each instance's transport (aiohttp over the network, unless a test or
the embedded demo hands in another), its ``BackendHTTP`` and its adapter; ``aclose`` closes the
transports. The app's lifespan does both.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from execgate.backends.aio import TLS, AiohttpTransport, proxy_for
from execgate.backends.http import BackendHTTP, Policy
from execgate.backends.n8n import N8nBackend
from execgate.backends.team import TeamBackend
from execgate.backends.transport import Transport
from execgate.config import InstanceSettings, Settings
from execgate.domain.models import BackendKind
from execgate.domain.ports import Backend
from execgate.telemetry.seam import BackendObserver

log = logging.getLogger("execgate.registry")


def network_transport(instance: InstanceSettings) -> Transport:
    """aiohttp, with the instance's TLS and proxy settings."""
    http = instance.http
    if not http.verify_tls:
        log.warning(
            "instance %r: TLS certificates are NOT verified (verify_tls = false)", instance.name
        )
    tls = None
    if instance.base_url.lower().startswith("https:"):
        tls = TLS(http.ca_file, http.verify_tls, http.client_cert_file, http.client_key_file)
    return AiohttpTransport(
        max_connections=http.max_concurrency,
        tls=tls,
        proxy=proxy_for(instance.base_url, http.proxy),
    )


def open_backend(
    instance: InstanceSettings, transport: Transport, observer: BackendObserver | None = None
) -> tuple[Backend, BackendHTTP]:
    http = instance.http
    policy = Policy(
        timeout=http.timeout_seconds,
        connect_timeout=http.connect_timeout_seconds,
        mutation_timeout=http.mutation_timeout_seconds,
        retry_timeout=http.retry_timeout_seconds,
        read_retries=http.read_retries,
        max_response_bytes=http.max_response_bytes,
    )
    if instance.kind is BackendKind.TEAM:
        assert instance.team_id is not None
        client = BackendHTTP(
            instance.name,
            transport,
            instance.base_url,
            TeamBackend.auth_headers(instance.credential),
            policy,
            observer,
        )
        return TeamBackend(instance.name, client, instance.team_id), client
    client = BackendHTTP(
        instance.name,
        transport,
        instance.base_url,
        N8nBackend.auth_headers(instance.credential),
        policy,
        observer,
    )
    return N8nBackend(instance.name, client), client


class Registry:
    """The backends of one running gateway, and the clients that ``aclose`` closes."""

    def __init__(self, backends: Mapping[str, Backend], https: Mapping[str, BackendHTTP]) -> None:
        self.backends = dict(backends)
        self.https = dict(https)

    @classmethod
    def open(
        cls,
        settings: Settings,
        transports: Mapping[str, Transport] | None = None,
        observer: BackendObserver | None = None,
    ) -> Registry:
        backends: dict[str, Backend] = {}
        https: dict[str, BackendHTTP] = {}
        for instance in settings.instances:
            given = (transports or {}).get(instance.name)
            transport = given if given is not None else network_transport(instance)
            backends[instance.name], https[instance.name] = open_backend(
                instance, transport, observer
            )
        return cls(backends, https)

    def calls(self) -> dict[str, int]:
        """Requests sent to each instance so far."""
        return {name: http.calls for name, http in self.https.items()}

    async def aclose(self) -> None:
        for http in self.https.values():
            await http.transport.aclose()
