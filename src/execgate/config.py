"""Settings: the instances execgate serves, read from a TOML file and the environment.

``load_settings`` reads the file, takes each instance's credential from the environment
variable the file names, and checks everything before the gateway starts. Every problem is
collected and reported at once in a ``ConfigError``, one line each, naming the file, the
instance (by name, or by position such as ``instances[2]`` when it has no usable name) and the
key. No message ever carries a credential, and URLs are described rather than echoed.

Beside the instances, the file may list API clients (``[[clients]]``), per-operation limits
(``[limits]``), server switches (``[server]``) and where the audit trail goes (``[audit]``);
``config_security`` reads those tables.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from execgate.backends.http import HTTPSettings
from execgate.config_messages import NAME as _NAME
from execgate.config_messages import type_name as _type_name
from execgate.config_messages import unknown_key as _unknown_key
from execgate.config_security import ClientSettings, LimitSettings, SecurityReader
from execgate.domain.models import BackendKind

__all__ = [
    "ClientSettings",
    "ConfigError",
    "InstanceSettings",
    "LimitSettings",
    "Settings",
    "load_settings",
    "read_audit_path",
]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

_FLOAT_KEYS = (
    "timeout_seconds",
    "connect_timeout_seconds",
    "mutation_timeout_seconds",
    "retry_timeout_seconds",
)
_INT_KEYS = ("max_concurrency",)
_TRANSPORTS = ("http11", "aiohttp", "httpx")
_COMMON_KEYS = ("name", "kind", "base_url", *_FLOAT_KEYS, *_INT_KEYS, "transport")
_KIND_KEYS: dict[BackendKind, tuple[str, ...]] = {
    BackendKind.TEAM: ("team_id", "token_env"),
    BackendKind.N8N: ("api_key_env",),
}
_CREDENTIAL_KEY = {BackendKind.TEAM: "token_env", BackendKind.N8N: "api_key_env"}
_TOP_KEYS = ("instances", "server", "clients", "limits", "audit")
_SERVER_KEYS = ("max_first", "introspection", "graphiql", "max_body_bytes")
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MIN_BODY_BYTES = 1024
_VALID_KINDS = ", ".join(repr(k.value) for k in sorted(BackendKind, key=lambda k: k.value))


@dataclass(frozen=True, slots=True)
class InstanceSettings:
    """One backend instance: where it is, what kind of API it speaks, how to authenticate."""

    name: str
    kind: BackendKind
    base_url: str
    """Normalised: no trailing slash."""
    credential: str = field(repr=False)
    """The Bearer token (team) or API key (n8n), surrounding whitespace dropped.

    Never shown in repr or messages."""
    team_id: str | None = None
    http: HTTPSettings = field(default_factory=HTTPSettings)


@dataclass(frozen=True, slots=True)
class Settings:
    instances: tuple[InstanceSettings, ...]
    max_first: int = 100
    """The largest page a client may ask for ([limits] max_first, or [server] max_first)."""
    source: str = "embedded demo"
    """Where the settings came from, for the start-up banner."""
    clients: tuple[ClientSettings, ...] = ()
    """API clients; none means anonymous full access, on loopback only."""
    limits: LimitSettings = field(default_factory=LimitSettings)
    introspection: bool = True
    graphiql: bool = True
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    audit_path: str | None = None
    """Where audit lines go (appended); ``None`` for stderr."""


class ConfigError(Exception):
    """A configuration that cannot be used; the message lists every problem, one per line."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = tuple(problems)
        count = len(problems)
        header = f"invalid configuration in {path} ({count} problem{'s' if count != 1 else ''}):"
        super().__init__("\n".join([header, *(f"  {problem}" for problem in problems)]))


def load_settings(path: str | Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check the TOML file at ``path``; credentials come from ``environ``."""
    env = os.environ if environ is None else environ
    shown = str(path)
    document = _parse(path)
    reader = _Reader(env)
    settings = reader.settings(document, shown)
    if reader.problems:
        raise ConfigError(shown, reader.problems)
    return settings


def _parse(path: str | Path) -> dict[str, Any]:
    shown = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(shown, [f"cannot read the file: {reason}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(shown, ["the file is not UTF-8 text"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(shown, [f"TOML syntax error: {exc}"]) from None


def read_audit_path(path: str | Path) -> str | None:
    """Only the ``[audit]`` path of the file at ``path`` (no credentials are needed for it)."""
    problems: list[str] = []
    found = SecurityReader(problems).audit(_parse(path).get("audit"))
    if problems:
        raise ConfigError(str(path), problems)
    return found


class _Reader:
    """Walks the parsed document, building settings and collecting problems."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def settings(self, document: dict[str, Any], source: str) -> Settings:
        for key in document:
            if key not in _TOP_KEYS:
                self.problems.append(f"top level: {_unknown_key(key, _TOP_KEYS)}")
        server = self._server(document.get("server"))
        security = SecurityReader(self.problems)
        limits, limits_first = security.limits(document.get("limits"))
        max_first = server.get("max_first")
        if limits_first is not None and max_first is not None and limits_first != max_first:
            self.problems.append(
                "[server]: key 'max_first': conflicts with [limits] max_first; "
                "keep only [limits] max_first"
            )
        instances = self._instances(document.get("instances"))
        clients = security.clients(document.get("clients"), _instance_names(document))
        audit_path = security.audit(document.get("audit"))
        return Settings(
            instances=instances,
            max_first=limits_first or max_first or 100,
            source=source,
            clients=clients,
            limits=limits,
            introspection=server.get("introspection", True),
            graphiql=server.get("graphiql", True),
            max_body_bytes=server.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES),
            audit_path=audit_path,
        )

    def _server(self, table: object) -> dict[str, Any]:
        """The [server] values that are set and valid, by key."""
        if table is None:
            return {}
        if not isinstance(table, dict):
            self.problems.append(
                f"key 'server': must be a table ([server]), not {_type_name(table)}"
            )
            return {}
        found: dict[str, Any] = {}
        for key, value in table.items():
            if key not in _SERVER_KEYS:
                self.problems.append(f"[server]: {_unknown_key(key, _SERVER_KEYS)}")
            elif key in ("introspection", "graphiql"):
                if isinstance(value, bool):
                    found[key] = value
                else:
                    self.problems.append(
                        f"[server]: key {key!r}: must be true or false, not {_type_name(value)}"
                    )
            elif isinstance(value, bool) or not isinstance(value, int):
                self.problems.append(
                    f"[server]: key {key!r}: must be an integer, not {_type_name(value)}"
                )
            elif key == "max_body_bytes" and value < MIN_BODY_BYTES:
                self.problems.append(
                    f"[server]: key 'max_body_bytes': must be at least {MIN_BODY_BYTES}"
                )
            elif value < 1:
                self.problems.append(f"[server]: key {key!r}: must be at least 1")
            else:
                found[key] = value
        return found

    def _instances(self, value: object) -> tuple[InstanceSettings, ...]:
        if value is None:
            self.problems.append("no instances: add at least one [[instances]] table")
            return ()
        if not isinstance(value, list):
            self.problems.append(
                f"key 'instances': must be an array of tables ([[instances]]), "
                f"not {_type_name(value)}"
            )
            return ()
        if not value:
            self.problems.append("no instances: add at least one [[instances]] table")
            return ()
        built: list[InstanceSettings] = []
        first_use: dict[str, int] = {}
        for position, table in enumerate(value):
            if not isinstance(table, dict):
                self.problems.append(
                    f"instances[{position}]: must be a table ([[instances]]), "
                    f"not {_type_name(table)}"
                )
                continue
            name = table.get("name")
            if isinstance(name, str) and _NAME.fullmatch(name):
                if name in first_use:
                    self.problems.append(
                        f"instance {name!r}: key 'name': duplicate name, instances[{position}] "
                        f"uses the same name as instances[{first_use[name]}]"
                    )
                else:
                    first_use[name] = position
            instance = _InstanceReader(self, table, position).read()
            if instance is not None:
                built.append(instance)
        return tuple(built)


def _instance_names(document: dict[str, Any]) -> frozenset[str]:
    """The names the ``[[instances]]`` tables give (clients may refer to these)."""
    tables = document.get("instances")
    if not isinstance(tables, list):
        return frozenset()
    return frozenset(
        t["name"]
        for t in tables
        if isinstance(t, dict) and isinstance(t.get("name"), str) and _NAME.fullmatch(t["name"])
    )


class _InstanceReader:
    """Checks one ``[[instances]]`` table."""

    def __init__(self, parent: _Reader, table: dict[str, Any], position: int) -> None:
        self.parent = parent
        self.table = table
        self.position = position
        name = table.get("name")
        usable = isinstance(name, str) and _NAME.fullmatch(name) is not None
        self.label = f"instance {name!r}" if usable else f"instances[{position}]"
        self.ok = True

    def problem(self, key: str, message: str) -> None:
        self.ok = False
        self.parent.problems.append(f"{self.label}: key {key!r}: {message}")

    def read(self) -> InstanceSettings | None:
        name = self._name()
        kind = self._kind()
        self._unknown_keys(kind)
        base_url = self._base_url(kind)
        http = self._http()
        team_id: str | None = None
        credential: str | None = None
        if kind is BackendKind.TEAM:
            team_id = self._team_id()
        if kind is not None:
            credential = self._credential(kind)
        if not self.ok or name is None or kind is None or base_url is None or credential is None:
            return None
        return InstanceSettings(
            name=name,
            kind=kind,
            base_url=base_url,
            credential=credential,
            team_id=team_id,
            http=http,
        )

    def _string(self, key: str, kind: BackendKind | None = None) -> str | None:
        value = self.table.get(key)
        if value is None:
            self.problem(key, f"missing (required for kind {kind.value!r})" if kind else "missing")
            return None
        if not isinstance(value, str):
            self.problem(key, f"must be a string, not {_type_name(value)}")
            return None
        return value

    def _name(self) -> str | None:
        name = self._string("name")
        if name is None:
            return None
        if not name:
            self.problem("name", "must not be empty")
            return None
        if not _NAME.fullmatch(name):
            self.problem("name", f"{name!r} may hold only letters, digits, '-' and '_'")
            return None
        return name

    def _kind(self) -> BackendKind | None:
        value = self._string("kind")
        if value is None:
            return None
        try:
            return BackendKind(value)
        except ValueError:
            self.problem("kind", f"unknown kind {value!r}; valid kinds: {_VALID_KINDS}")
            return None

    def _unknown_keys(self, kind: BackendKind | None) -> None:
        if kind is None:
            valid = _COMMON_KEYS + tuple(k for keys in _KIND_KEYS.values() for k in keys)
        else:
            valid = _COMMON_KEYS + _KIND_KEYS[kind]
        for key in self.table:
            if key in valid:
                continue
            other = [k.value for k, keys in _KIND_KEYS.items() if key in keys]
            if other and kind is not None:
                self.problem(
                    key,
                    f"belongs to kind {other[0]!r}, not {kind.value!r}; "
                    f"valid keys: {', '.join(valid)}",
                )
            else:
                self.problem(key, _unknown_key(key, valid))

    def _base_url(self, kind: BackendKind | None) -> str | None:
        value = self._string("base_url")
        if value is None:
            return None
        if not value or any(ch.isspace() for ch in value):
            self.problem("base_url", "must be a non-empty URL without spaces")
            return None
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            self.problem("base_url", "is not a valid URL (check the brackets and the port)")
            return None
        problems: list[str] = []
        if parts.scheme.lower() not in ("http", "https"):
            problems.append("must start with http:// or https://")
        elif not parts.hostname:
            problems.append("has no host")
        if parts.username is not None or parts.password is not None:
            problems.append("must not contain a user or password (credentials come from env)")
        if "?" in value:
            problems.append("must not have a query ('?...')")
        if "#" in value:
            problems.append("must not have a fragment ('#...')")
        if port == 0:
            problems.append("has port 0")
        if kind is BackendKind.N8N and parts.path.rstrip("/").endswith("/api/v1"):
            problems.append("must not end in /api/v1 (execgate adds it)")
        for message in problems:
            self.problem("base_url", message)
        if problems:
            return None
        return value.rstrip("/")

    def _team_id(self) -> str | None:
        value = self._string("team_id", BackendKind.TEAM)
        if value is None:
            return None
        if not _UUID.fullmatch(value):
            self.problem("team_id", "must be a UUID such as 0b6f3a8e-2c1d-4e5f-9a7b-1c2d3e4f5a6b")
            return None
        return value

    def _credential(self, kind: BackendKind) -> str | None:
        key = _CREDENTIAL_KEY[kind]
        variable = self._string(key, kind)
        if variable is None:
            return None
        if not _ENV_NAME.fullmatch(variable):
            # Never echo it: a common mistake is to paste the secret itself here.
            self.problem(
                key,
                "must be the NAME of an environment variable (letters, digits and '_'), "
                "not the credential itself",
            )
            return None
        secret = self.parent.environ.get(variable)
        if secret is None:
            self.problem(key, f"environment variable {variable} is not set")
            return None
        secret = secret.strip()
        if not secret:
            self.problem(key, f"environment variable {variable} is empty")
            return None
        return secret

    def _http(self) -> HTTPSettings:
        values: dict[str, Any] = {}
        for key in _FLOAT_KEYS:
            if key not in self.table:
                continue
            value = self.table[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.problem(key, f"must be a number of seconds, not {_type_name(value)}")
            elif not math.isfinite(value) or value <= 0:
                self.problem(key, "must be a positive, finite number of seconds")
            else:
                values[key] = float(value)
        for key in _INT_KEYS:
            if key not in self.table:
                continue
            value = self.table[key]
            if isinstance(value, bool) or not isinstance(value, int):
                self.problem(key, f"must be an integer, not {_type_name(value)}")
            elif value < 1:
                self.problem(key, "must be at least 1")
            else:
                values[key] = value
        if "transport" in self.table:
            transport = self.table["transport"]
            if transport not in _TRANSPORTS:
                self.problem("transport", f"must be one of {', '.join(map(repr, _TRANSPORTS))}")
            else:
                values["transport"] = transport
        return HTTPSettings(**values)
