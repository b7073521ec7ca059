"""Every setting of execgate, each with its one default.

The dataclasses here are what the rest of execgate receives; ``config.reader`` builds them from
a TOML file and the environment. A field that the file may set carries, in its metadata, the
kind of value it takes (``OPTION``): the reader checks every table against these, so a key, its
type, its range and its default are written down once, here.

Only the domain is imported: this is a leaf that every other layer may read.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from execgate.domain.access import Action
from execgate.domain.models import BackendKind

OPTION = "execgate.option"
"""Field metadata key: the ``Kind`` of value a config key takes."""


class Kind(enum.Enum):
    """What a config key accepts (the reader's check and its wording)."""

    BOOL = "true or false"
    COUNT = "an integer of at least 1"
    NATURAL = "an integer of at least 0"
    SECONDS = "a positive, finite number of seconds"
    SECONDS_OR_OFF = "a finite number of seconds, 0 for off"
    MEGABYTES = "a positive, finite number of megabytes"
    FILE = "the path of a readable file"
    STRINGS = "an array of strings"
    PATTERNS = "an array of regular expressions"
    PROXY_URL = "an http:// or https:// proxy URL"
    STRING = "a string"
    LISTEN = "a host:port address such as 127.0.0.1:9464"
    ORIGINS = 'an array of origins such as ["https://ops.example.com"]'
    LOG_FORMAT = '"text" or "json"'
    REDIS_URL = "a redis://, rediss:// or unix:// URL"


def option(default: Any, kind: Kind, *, minimum: int | None = None, repr: bool = True) -> Any:
    """A settings field the config file may set (``repr=False``: a value never shown)."""
    return field(default=default, metadata={OPTION: (kind, minimum)}, repr=repr)


MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class HTTPSettings:
    """How execgate talks to one instance (keys of its ``[[instances]]`` table)."""

    timeout_seconds: float = option(10.0, Kind.SECONDS)
    """The longest one read may take, from opening or taking a connection to the last byte of
    the answer. A read that runs out of it is not sent again."""
    connect_timeout_seconds: float = option(3.0, Kind.SECONDS)
    """The longest opening a connection (TLS included) may take, within the request's own."""
    mutation_timeout_seconds: float = option(30.0, Kind.SECONDS)
    """``timeout_seconds`` for cancel and delete."""
    retry_timeout_seconds: float = option(300.0, Kind.SECONDS)
    """``timeout_seconds`` for retry: n8n answers a retry only when the new run has finished."""
    max_concurrency: int = option(16, Kind.COUNT)
    """Requests in flight to this instance at once."""
    read_retries: int = option(1, Kind.NATURAL)
    """A read that found no connection, or was answered 502/503/504, is sent at most this many
    more times. Mutations are sent exactly once."""
    max_response_mb: float = option(16.0, Kind.MEGABYTES)
    """The largest answer body read (after decompression); a larger one is a bad answer. The
    default holds an n8n page of 250 executions with node data of about 60 KB each."""
    ca_file: str | None = option(None, Kind.FILE)
    """PEM bundle of the CAs to trust for https base URLs (default: the system store)."""
    verify_tls: bool = option(True, Kind.BOOL)
    """False skips certificate checks (warned about at start-up)."""
    client_cert_file: str | None = option(None, Kind.FILE)
    """PEM client certificate for mutual TLS (needs ``client_key_file``)."""
    client_key_file: str | None = option(None, Kind.FILE)
    proxy: str | None = option(None, Kind.PROXY_URL)
    """An HTTP proxy for this instance; without it, HTTP(S)_PROXY and NO_PROXY apply."""
    circuit_failures: int = option(5, Kind.COUNT)
    """Failures in a row (no connection, no answer in time, 5xx, garbage) that open the
    instance's circuit: it is then skipped at once, nothing sent."""
    circuit_cooldown_seconds: float = option(30.0, Kind.SECONDS)
    """How long an open circuit stays open before one request probes the instance."""

    @property
    def max_response_bytes(self) -> int:
        return int(self.max_response_mb * MIB)


@dataclass(frozen=True, slots=True)
class InstanceSettings:
    """One backend instance: where it is, what kind of API it speaks, how to authenticate."""

    name: str
    kind: BackendKind
    base_url: str
    """Normalised: no trailing slash."""
    credential: str = field(repr=False)
    """The Bearer token (team) or API key (n8n), surrounding whitespace dropped; never shown."""
    team_id: str | None = None
    http: HTTPSettings = field(default_factory=HTTPSettings)


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """One API client: its name, the sha256 of its key, what it may see and do, how fast."""

    name: str
    key_sha256: str = field(repr=False)
    """Lowercase hex; the key itself is never stored."""
    instances: tuple[str, ...] | None
    """The instances it sees; ``None`` for every instance (``["*"]``)."""
    actions: frozenset[Action]
    rate_per_second: float | None = None
    burst: int | None = None


@dataclass(frozen=True, slots=True)
class LimitSettings:
    """``[limits]``: per-operation limits, checked before any backend call."""

    max_backend_calls: int = option(250, Kind.COUNT)
    max_depth: int = option(12, Kind.COUNT)
    max_aliases: int = option(30, Kind.COUNT)
    max_tokens: int = option(2000, Kind.COUNT)
    max_first: int = option(100, Kind.COUNT)
    """The largest page a client may ask for."""
    max_stats_executions: int = option(200_000, Kind.COUNT)
    """The most executions one statistics window may hold (``executionStats`` reads them all,
    from its ``startedAfter`` to now; a larger window is refused)."""
    max_subscriptions_per_client: int = option(20, Kind.COUNT)
    """Live subscriptions one client may hold at a time, over every transport together."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """``[server]``: switches of the HTTP side."""

    introspection: bool = option(True, Kind.BOOL)
    graphiql: bool = option(True, Kind.BOOL)
    max_body_bytes: int = option(MIB, Kind.COUNT, minimum=1024)
    """Larger request bodies get HTTP 413."""
    header_timeout_seconds: float = option(10.0, Kind.SECONDS_OR_OFF)
    """A client connection must complete each request's headers within this; 0 for no
    limit (uvicorn's own protocol then serves)."""
    request_timeout_seconds: float = option(15.0, Kind.SECONDS)
    """The longest one request's backend work may take, all backend requests together."""
    fast_executor: bool = option(True, Kind.BOOL)
    """Complete plain fields inline (``api/execution.py``); false runs strawberry's executor."""
    federation: bool = option(False, Kind.BOOL)
    """Serve the API as an Apollo Federation v2 subgraph (``_service``, ``_entities``, the nodes
    as entities) for a federated gateway; false serves the public schema alone."""
    cursor_secret_env: str | None = option(None, Kind.STRING)
    """The environment variable holding the secret that authenticates cursors (at least 32
    characters; replicas share it). Without it each process draws its own."""
    cursor_secret: str | None = field(default=None, repr=False)
    """The secret itself, read from ``cursor_secret_env``; never shown."""
    metrics: bool = option(False, Kind.BOOL)
    """Serve Prometheus metrics at ``/metrics`` (on ``metrics_listen`` when it is set)."""
    metrics_listen: str | None = option(None, Kind.LISTEN)
    """A separate ``host:port`` for ``/metrics`` (with ``metrics = true``), so the scrape
    port need not be the public one."""
    cors_origins: tuple[str, ...] = option((), Kind.ORIGINS)
    """Browser origins allowed to call ``/graphql`` and ``/mcp`` (CORS); none by default."""
    persisted_only: bool = option(False, Kind.BOOL)
    """Run only the documents of ``persisted_queries_file`` (an allow-list)."""
    persisted_queries_file: str | None = option(None, Kind.FILE)
    """An Apollo persisted query manifest: the documents ``persisted_only`` allows."""
    log_format: str = option("text", Kind.LOG_FORMAT)
    """``json``: one JSON object per log line, for a log platform."""


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """``[cache]``: what the gateway remembers across requests, and how much of it."""

    enabled: bool = option(True, Kind.BOOL)
    """False keeps no execution and shares no in-flight read between requests."""
    max_mb: float = option(64.0, Kind.MEGABYTES)
    """Finished executions with their node data, by estimated size."""
    max_entries: int = option(20_000, Kind.COUNT)
    """Finished executions, by count."""
    ttl_seconds: float = option(300.0, Kind.SECONDS)
    """How long a finished execution is trusted (deletions made elsewhere show after this)."""
    persisted_queries: int = option(10_000, Kind.COUNT)
    """Documents registered by clients as automatic persisted queries (in process)."""
    operations: int = option(256, Kind.COUNT)
    """Parsed and validated documents, and the executor's plans, each kept for this many
    operations."""

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * MIB)


@dataclass(frozen=True, slots=True)
class LiveSettings:
    """``[live]``: the pollers behind live subscriptions."""

    poll_interval_seconds: float = option(2.0, Kind.SECONDS)
    """How often each instance that has a subscriber is asked what changed."""


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """``[audit]``: where the audit trail of mutations goes."""

    path: str | None = option(None, Kind.STRING)
    """Appended to, created with mode 0600; ``None`` for stderr."""


DEFAULT_MASK_KEYS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "apiKey",
    "cookie",
    "credential",
    "credentials",
    "privateKey",
)
DEFAULT_MASK_PATTERNS = (
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{6,}",
    r"\b(?:\d[ -]?){12,18}\d\b",
)
"""E-mail addresses, bearer tokens, card numbers (13 to 19 digits, spaces or dashes between)."""


@dataclass(frozen=True, slots=True)
class ExportSettings:
    """``[export]``: what ``/export`` and ``execgate export`` mask in every exported string."""

    mask_keys: tuple[str, ...] = option(DEFAULT_MASK_KEYS, Kind.STRINGS)
    """Object keys whose values are always masked (letters and digits compared, case-folded,
    by suffix: ``apiKey`` also masks ``X-Api-Key``); inside text, ``key=value`` too."""
    mask_patterns: tuple[str, ...] = option(DEFAULT_MASK_PATTERNS, Kind.PATTERNS)
    """Regular expressions; every match in every exported string is masked."""
    default_days: int = option(30, Kind.COUNT)
    """The days an export covers when it names no ``startedAfter`` nor ``days``."""


@dataclass(frozen=True, slots=True)
class MCPSettings:
    """``[mcp]``: the MCP tools, at ``/mcp`` on the gateway's port and over stdio
    (``execgate mcp``)."""

    enabled: bool = option(True, Kind.BOOL)
    """False: no ``/mcp`` route, and ``execgate mcp`` refuses to start."""
    default_instance: str | None = option(None, Kind.STRING)
    """The instance a tool other than ``list_executions`` means when its call names none and
    its ``id`` is not a global ID (must be a configured instance)."""
    key_env: str = option("EXECGATE_MCP_KEY", Kind.STRING)
    """The environment variable that holds the client key of ``execgate mcp`` (stdio)."""


@dataclass(frozen=True, slots=True)
class SharedSettings:
    """``[shared]``: what replicas share through Redis (nothing without ``redis_url``)."""

    redis_url: str | None = option(None, Kind.REDIS_URL, repr=False)
    """Where the shared Redis is; never shown (a URL may name a host that is private)."""
    redis_password_env: str | None = option(None, Kind.STRING)
    """The environment variable holding Redis's password (never in the URL)."""
    redis_password: str | None = field(default=None, repr=False)
    """The password itself, read from ``redis_password_env``; never shown."""
    key_prefix: str = option("execgate:", Kind.STRING)
    """Every key execgate writes starts with this (replicas of one gateway share it)."""
    timeout_seconds: float = option(0.25, Kind.SECONDS)
    """The longest one Redis command may take before the replica goes on alone."""
    retry_seconds: float = option(5.0, Kind.SECONDS)
    """After a failure, how long a replica works alone before it tries Redis again."""


@dataclass(frozen=True, slots=True)
class Settings:
    instances: tuple[InstanceSettings, ...]
    clients: tuple[ClientSettings, ...] = ()
    """API clients; none means anonymous full access, on loopback only."""
    limits: LimitSettings = field(default_factory=LimitSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    mcp: MCPSettings = field(default_factory=MCPSettings)
    shared: SharedSettings = field(default_factory=SharedSettings)
    export: ExportSettings = field(default_factory=ExportSettings)
    live: LiveSettings = field(default_factory=LiveSettings)
    source: str = "embedded demo"
    """Where the settings came from, for the start-up banner."""
