"""Reading settings from a TOML file and the environment, checking everything before start-up.

``load_settings`` reads the file, takes each instance's credential from the environment
variable the file names, and checks every table. Every problem is collected and reported at
once in a ``ConfigError``, one line each, naming the file, the instance or client (by name, or
by position such as ``instances[2]`` when it has no usable name) and the key. No message ever
carries a credential, a pasted client key or a URL's user and password.

The option keys of ``[server]``, ``[limits]``, ``[cache]``, ``[audit]``, ``[mcp]``,
``[export]``, ``[live]`` and of each instance are checked against the fields of their settings
dataclass (``config.settings``), which give their kind, range and default.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from execgate.config.settings import (
    OPTION,
    AuditSettings,
    CacheSettings,
    ClientSettings,
    ExportSettings,
    HTTPSettings,
    InstanceSettings,
    Kind,
    LimitSettings,
    LiveSettings,
    MCPSettings,
    ServerSettings,
    Settings,
    SharedSettings,
)
from execgate.domain.access import Action
from execgate.domain.models import BackendKind

NAME = re.compile(r"[A-Za-z0-9_-]+")
"""An instance or client name: letters, digits, '-' and '_'."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_TOP_KEYS = (
    "instances",
    "server",
    "clients",
    "limits",
    "cache",
    "audit",
    "mcp",
    "shared",
    "export",
    "live",
)
_KIND_KEYS: dict[BackendKind, tuple[str, ...]] = {
    BackendKind.TEAM: ("team_id", "token_env"),
    BackendKind.N8N: ("api_key_env",),
}
_CREDENTIAL_KEY = {BackendKind.TEAM: "token_env", BackendKind.N8N: "api_key_env"}
_VALID_KINDS = ", ".join(repr(k.value) for k in sorted(BackendKind, key=lambda k: k.value))
_CLIENT_KEYS = ("name", "key_sha256", "instances", "actions", "rate_per_second", "burst")
_SECRET_LOOKING = ("key", "api_key", "token", "secret", "key_hash", "sha256")
_ACTIONS = ", ".join(a.value for a in Action)
_KEYS_NEW = "run 'execgate keys new NAME' to make a key and its [[clients]] table"
_INVALID = object()
MIN_CURSOR_SECRET = 32

T = TypeVar("T")


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
    reader = _Reader(os.environ if environ is None else environ)
    settings = reader.settings(_parse(path), str(path))
    if reader.problems:
        raise ConfigError(str(path), reader.problems)
    return settings


def read_audit_path(path: str | Path) -> str | None:
    """Only the ``[audit]`` path of the file at ``path`` (no credentials are needed for it)."""
    reader = _Reader({})
    audit = reader.audit(_parse(path).get("audit"))
    if reader.problems:
        raise ConfigError(str(path), reader.problems)
    return audit.path


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


def type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"


def unknown_key(key: str, valid: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}; valid keys: {', '.join(valid)}"


def option_keys(cls: type) -> tuple[str, ...]:
    """The keys the file may set for ``cls``: its fields that carry an option kind."""
    return tuple(f.name for f in dataclasses.fields(cls) if OPTION in f.metadata)


def _check(kind: Kind, minimum: int | None, value: object) -> tuple[object, str | None]:
    """``(value, None)`` when ``value`` is a valid ``kind``, else ``(_INVALID, complaint)``."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is Kind.BOOL:
        if isinstance(value, bool):
            return value, None
        return _INVALID, f"must be true or false, not {type_name(value)}"
    if kind in (Kind.COUNT, Kind.NATURAL):
        if not isinstance(value, int) or isinstance(value, bool):
            return _INVALID, f"must be an integer, not {type_name(value)}"
        least = minimum if minimum is not None else (1 if kind is Kind.COUNT else 0)
        return (value, None) if value >= least else (_INVALID, f"must be at least {least}")
    if kind in (Kind.SECONDS, Kind.SECONDS_OR_OFF, Kind.MEGABYTES):
        unit = "megabytes" if kind is Kind.MEGABYTES else "seconds"
        if not number:
            return _INVALID, f"must be a number of {unit}, not {type_name(value)}"
        assert isinstance(value, int | float)
        if kind is Kind.SECONDS_OR_OFF and value == 0:
            return 0.0, None
        if not math.isfinite(value) or value <= 0:
            off = " (or 0 for off)" if kind is Kind.SECONDS_OR_OFF else ""
            return _INVALID, f"must be a positive, finite number of {unit}{off}"
        return float(value), None
    if kind is Kind.ORIGINS:
        return _origins(value)
    if kind in (Kind.STRINGS, Kind.PATTERNS):
        return _strings(kind, value)
    if not isinstance(value, str):
        return _INVALID, f"must be a string, not {type_name(value)}"
    if kind is Kind.LISTEN:
        return _listen(value)
    if kind is Kind.LOG_FORMAT and value not in ("text", "json"):
        return _INVALID, f'must be "text" or "json", not {value!r}'
    if kind is Kind.REDIS_URL:
        return _redis_url(value)
    if kind is Kind.FILE and not Path(value).is_file():
        return _INVALID, f"{value} is not a file that can be read"
    if kind is Kind.PROXY_URL:
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            # Never echo it: a proxy URL may carry a password.
            return _INVALID, f"must be {kind.value} such as http://proxy.internal:3128"
    return value, None


def _origins(value: object) -> tuple[object, str | None]:
    """``cors_origins``: ``scheme://host[:port]`` each (no path), or ``["*"]`` alone."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return _INVALID, f"must be {Kind.ORIGINS.value}, not {type_name(value)}"
    if value == ["*"]:
        return ("*",), None
    for origin in value:
        try:
            parts = urlsplit(origin)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username is not None
            or origin.endswith("/")
        ):
            return _INVALID, (
                f"{shown_value(origin)} is not an origin: write scheme://host[:port], such as "
                'https://ops.example.com, with no path (or ["*"] alone for any origin)'
            )
    return tuple(dict.fromkeys(value)), None


def _listen(value: str) -> tuple[object, str | None]:
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return _INVALID, f"must be {Kind.LISTEN.value}, not {shown_value(value)}"
    return value, None


def _redis_url(value: str) -> tuple[object, str | None]:
    """A Redis URL without a password (that comes from ``redis_password_env``); never echoed."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return _INVALID, f"must be {Kind.REDIS_URL.value} (check the host and port)"
    if parts.scheme not in ("redis", "rediss", "unix"):
        return _INVALID, f"must be {Kind.REDIS_URL.value}"
    if parts.password is not None:
        return _INVALID, (
            "must not hold a password: name the environment variable that holds it in "
            "redis_password_env"
        )
    if parts.scheme != "unix" and not parts.hostname:
        return _INVALID, "has no host"
    return value, None


def shown_value(value: str) -> str:
    return repr(value) if len(value) <= 64 else f"{value[:64]!r}…"


def _strings(kind: Kind, value: object) -> tuple[object, str | None]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return _INVALID, f"must be {kind.value}, not {type_name(value)}"
    if kind is Kind.PATTERNS:
        for position, pattern in enumerate(value):
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                return _INVALID, f"item {position} is not a regular expression: {exc}"
            if compiled.match(""):
                return _INVALID, f"item {position} matches the empty string"
    return tuple(value), None


class _Reader:
    """Walks the parsed document, building settings and collecting problems."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def problem(self, label: str, key: str, message: str) -> None:
        self.problems.append(f"{label}: key {key!r}: {message}")

    def options(self, label: str, table: Mapping[str, Any], cls: type) -> dict[str, Any]:
        """The valid option values of ``table`` for ``cls``'s fields (others: problems)."""
        found: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            if OPTION not in spec.metadata or spec.name not in table:
                continue
            kind, minimum = spec.metadata[OPTION]
            value, complaint = _check(kind, minimum, table[spec.name])
            if complaint is not None:
                self.problem(label, spec.name, complaint)
            else:
                found[spec.name] = value
        return found

    def table(
        self, name: str, value: object, cls: type[T], extra: tuple[str, ...] = ()
    ) -> tuple[T, dict[str, Any]]:
        """``[name]`` read as ``cls``, and the raw values of its ``extra`` keys."""
        if value is None:
            return cls(), {}
        if not isinstance(value, dict):
            self.problems.append(
                f"key {name!r}: must be a table ([{name}]), not {type_name(value)}"
            )
            return cls(), {}
        valid = option_keys(cls) + extra
        for key in value:
            if key not in valid:
                self.problems.append(f"[{name}]: {unknown_key(key, valid)}")
        return cls(**self.options(f"[{name}]", value, cls)), {
            k: value[k] for k in extra if k in value
        }

    def settings(self, document: dict[str, Any], source: str) -> Settings:
        for key in document:
            if key not in _TOP_KEYS:
                self.problems.append(f"top level: {unknown_key(key, _TOP_KEYS)}")
        server, legacy = self.table(
            "server", document.get("server"), ServerSettings, ("max_first",)
        )
        server = self._cursor_secret(server)
        if server.persisted_only and server.persisted_queries_file is None:
            self.problem(
                "[server]",
                "persisted_only",
                "needs persisted_queries_file: the manifest of the documents it allows",
            )
        limits, _ = self.table("limits", document.get("limits"), LimitSettings)
        limits = self._legacy_max_first(limits, legacy.get("max_first"), document.get("limits"))
        cache, _ = self.table("cache", document.get("cache"), CacheSettings)
        live, _ = self.table("live", document.get("live"), LiveSettings)
        instances = self.instances(document.get("instances"))
        names = frozenset(i.name for i in instances) | _named_instances(document)
        return Settings(
            instances=instances,
            clients=self.clients(document.get("clients"), names),
            limits=limits,
            server=server,
            cache=cache,
            audit=self.audit(document.get("audit")),
            mcp=self.mcp(document.get("mcp"), names),
            shared=self.shared(document.get("shared")),
            export=self.table("export", document.get("export"), ExportSettings)[0],
            live=live,
            source=source,
        )

    def mcp(self, value: object, instances: frozenset[str]) -> MCPSettings:
        """``[mcp]``: its default instance must be configured, its key variable a name."""
        mcp, _ = self.table("mcp", value, MCPSettings)
        default = mcp.default_instance
        if default is not None and default not in instances:
            configured = ", ".join(sorted(instances)) or "none"
            self.problem(
                "[mcp]",
                "default_instance",
                f"instance {default!r} is not configured; configured: {configured}",
            )
            mcp = dataclasses.replace(mcp, default_instance=None)
        if not _ENV_NAME.fullmatch(mcp.key_env):
            # Never echo it: the key itself may have been pasted here.
            self.problem(
                "[mcp]",
                "key_env",
                "must be the NAME of an environment variable, not the key itself",
            )
            mcp = dataclasses.replace(mcp, key_env=MCPSettings().key_env)
        return mcp

    def shared(self, value: object) -> SharedSettings:
        """``[shared]``, with Redis's password from the variable ``redis_password_env`` names."""
        shared, _ = self.table("shared", value, SharedSettings)
        variable = shared.redis_password_env
        if variable is None:
            return shared
        if not _ENV_NAME.fullmatch(variable):
            self.problem(
                "[shared]",
                "redis_password_env",
                "must be the NAME of an environment variable, not the password itself",
            )
            return shared
        password = self.environ.get(variable)
        if not password:
            state = "is not set" if password is None else "is empty"
            self.problem(
                "[shared]", "redis_password_env", f"environment variable {variable} {state}"
            )
            return shared
        return dataclasses.replace(shared, redis_password=password)

    def _cursor_secret(self, server: ServerSettings) -> ServerSettings:
        """``server`` with the cursor secret its ``cursor_secret_env`` names."""
        variable = server.cursor_secret_env
        if variable is None:
            return server
        if not _ENV_NAME.fullmatch(variable):
            self.problem(
                "[server]",
                "cursor_secret_env",
                "must be the NAME of an environment variable, not the secret itself",
            )
            return server
        secret = self.environ.get(variable, "").strip()
        if len(secret) < MIN_CURSOR_SECRET:
            state = "is not set" if variable not in self.environ else "is too short"
            self.problem(
                "[server]",
                "cursor_secret_env",
                f"environment variable {variable} {state}: it must hold at least "
                f"{MIN_CURSOR_SECRET} characters",
            )
            return server
        return dataclasses.replace(server, cursor_secret=secret)

    def _legacy_max_first(
        self, limits: LimitSettings, value: object, limits_table: object
    ) -> LimitSettings:
        """``[server] max_first``, the older place of ``[limits] max_first``."""
        if value is None:
            return limits
        checked, complaint = _check(Kind.COUNT, None, value)
        if complaint is not None:
            self.problem("[server]", "max_first", complaint)
            return limits
        other = limits_table.get("max_first") if isinstance(limits_table, dict) else None
        if other is not None and other != checked:
            self.problem(
                "[server]",
                "max_first",
                "conflicts with [limits] max_first; keep only [limits] max_first",
            )
            return limits
        assert isinstance(checked, int)
        return dataclasses.replace(limits, max_first=checked)

    def audit(self, value: object) -> AuditSettings:
        audit, _ = self.table("audit", value, AuditSettings)
        path = audit.path
        if path is None:
            return audit
        if not path.strip():
            self.problem("[audit]", "path", "must not be empty (omit it for stderr)")
        elif Path(path).is_dir():
            self.problem("[audit]", "path", f"{path} is a directory, not a file")
        elif not Path(path).parent.is_dir():
            self.problem("[audit]", "path", f"the directory {Path(path).parent} does not exist")
        else:
            return audit
        return AuditSettings()

    # ------------------------------------------------------------------ [[instances]]

    def instances(self, value: object) -> tuple[InstanceSettings, ...]:
        if value is None or value == []:
            self.problems.append("no instances: add at least one [[instances]] table")
            return ()
        if not isinstance(value, list):
            self.problems.append(
                "key 'instances': must be an array of tables ([[instances]]), "
                f"not {type_name(value)}"
            )
            return ()
        built: list[InstanceSettings] = []
        first_use: dict[str, int] = {}
        for position, table in enumerate(value):
            if not isinstance(table, dict):
                self.problems.append(
                    f"instances[{position}]: must be a table ([[instances]]), "
                    f"not {type_name(table)}"
                )
                continue
            name = table.get("name")
            if isinstance(name, str) and NAME.fullmatch(name):
                if name in first_use:
                    self.problem(
                        f"instance {name!r}",
                        "name",
                        f"duplicate name, instances[{position}] uses the same name as "
                        f"instances[{first_use[name]}]",
                    )
                else:
                    first_use[name] = position
            instance = _InstanceReader(self, table, position).read()
            if instance is not None:
                built.append(instance)
        return tuple(built)

    # ------------------------------------------------------------------ [[clients]]

    def clients(self, value: object, instances: frozenset[str]) -> tuple[ClientSettings, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problems.append(
                f"key 'clients': must be an array of tables ([[clients]]), not {type_name(value)}"
            )
            return ()
        built: list[ClientSettings] = []
        names: dict[str, int] = {}
        hashes: dict[str, str] = {}
        for position, table in enumerate(value):
            if not isinstance(table, dict):
                self.problems.append(
                    f"clients[{position}]: must be a table ([[clients]]), not {type_name(table)}"
                )
                continue
            reader = _ClientReader(self, table, position, instances)
            client = reader.read()
            name = table.get("name")
            if isinstance(name, str) and NAME.fullmatch(name):
                if name in names:
                    reader.problem(
                        "name",
                        f"duplicate name, clients[{position}] uses the same name as "
                        f"clients[{names[name]}]",
                    )
                    client = None
                else:
                    names[name] = position
            digest = table.get("key_sha256")
            if isinstance(digest, str) and _HEX64.fullmatch(digest):
                if digest.lower() in hashes:
                    reader.problem(
                        "key_sha256",
                        f"the same key as {hashes[digest.lower()]}; every client needs its own "
                        f"key ({_KEYS_NEW})",
                    )
                    client = None
                else:
                    hashes[digest.lower()] = reader.label
            if client is not None:
                built.append(client)
        return tuple(built)


def _named_instances(document: dict[str, Any]) -> frozenset[str]:
    """The names the ``[[instances]]`` tables give, even of broken ones (clients refer to
    these, and a broken instance is reported once, not again through every client)."""
    tables = document.get("instances")
    if not isinstance(tables, list):
        return frozenset()
    return frozenset(
        t["name"]
        for t in tables
        if isinstance(t, dict) and isinstance(t.get("name"), str) and NAME.fullmatch(t["name"])
    )


class _Entry:
    """One table of an array of tables, with problems labelled by its name or position."""

    def __init__(
        self, parent: _Reader, table: dict[str, Any], position: int, noun: str, array: str
    ) -> None:
        self.parent = parent
        self.table = table
        name = table.get("name")
        usable = isinstance(name, str) and NAME.fullmatch(name) is not None
        self.label = f"{noun} {name!r}" if usable else f"{array}[{position}]"
        self.ok = True

    def problem(self, key: str, message: str) -> None:
        self.ok = False
        self.parent.problem(self.label, key, message)

    def string(self, key: str, required_for: str | None = None) -> str | None:
        value = self.table.get(key)
        if value is None:
            self.problem(
                key, f"missing (required for kind {required_for!r})" if required_for else "missing"
            )
            return None
        if not isinstance(value, str):
            self.problem(key, f"must be a string, not {type_name(value)}")
            return None
        return value

    def name(self) -> str | None:
        name = self.string("name")
        if name is None:
            return None
        if not name:
            self.problem("name", "must not be empty")
            return None
        if not NAME.fullmatch(name):
            self.problem("name", f"{name!r} may hold only letters, digits, '-' and '_'")
            return None
        return name


class _InstanceReader(_Entry):
    """Checks one ``[[instances]]`` table."""

    def __init__(self, parent: _Reader, table: dict[str, Any], position: int) -> None:
        super().__init__(parent, table, position, "instance", "instances")

    def read(self) -> InstanceSettings | None:
        name = self.name()
        kind = self._kind()
        self._unknown_keys(kind)
        base_url = self._base_url(kind)
        http = self._http()
        team_id = self._team_id() if kind is BackendKind.TEAM else None
        credential = self._credential(kind) if kind is not None else None
        if not self.ok or name is None or kind is None or base_url is None or credential is None:
            return None
        return InstanceSettings(name, kind, base_url, credential, team_id, http)

    def _kind(self) -> BackendKind | None:
        value = self.string("kind")
        if value is None:
            return None
        try:
            return BackendKind(value)
        except ValueError:
            self.problem("kind", f"unknown kind {value!r}; valid kinds: {_VALID_KINDS}")
            return None

    def _unknown_keys(self, kind: BackendKind | None) -> None:
        common = ("name", "kind", "base_url", *option_keys(HTTPSettings))
        if kind is None:
            valid = common + tuple(k for keys in _KIND_KEYS.values() for k in keys)
        else:
            valid = common + _KIND_KEYS[kind]
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
                self.problem(key, unknown_key(key, valid))

    def _base_url(self, kind: BackendKind | None) -> str | None:
        value = self.string("base_url")
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
        return None if problems else value.rstrip("/")

    def _team_id(self) -> str | None:
        value = self.string("team_id", BackendKind.TEAM.value)
        if value is None:
            return None
        if not _UUID.fullmatch(value):
            self.problem("team_id", "must be a UUID such as 0b6f3a8e-2c1d-4e5f-9a7b-1c2d3e4f5a6b")
            return None
        return value

    def _credential(self, kind: BackendKind) -> str | None:
        key = _CREDENTIAL_KEY[kind]
        variable = self.string(key, kind.value)
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
        if not secret.strip():
            self.problem(key, f"environment variable {variable} is empty")
            return None
        return secret.strip()

    def _http(self) -> HTTPSettings:
        before = len(self.parent.problems)
        values = self.parent.options(self.label, self.table, HTTPSettings)
        if len(self.parent.problems) > before:
            self.ok = False
        if ("client_cert_file" in values) != ("client_key_file" in values):
            self.problem(
                "client_key_file" if "client_cert_file" in values else "client_cert_file",
                "mutual TLS needs both client_cert_file and client_key_file",
            )
        return HTTPSettings(**values)


class _ClientReader(_Entry):
    """Checks one ``[[clients]]`` table. A value that may be a secret is never echoed."""

    def __init__(
        self, parent: _Reader, table: dict[str, Any], position: int, instances: frozenset[str]
    ) -> None:
        super().__init__(parent, table, position, "client", "clients")
        self.instances = instances

    def read(self) -> ClientSettings | None:
        for key in self.table:
            if key in _CLIENT_KEYS:
                continue
            if key in _SECRET_LOOKING:
                self.problem(
                    key,
                    f"unknown key {key!r}; write the key's sha256 as key_sha256, never the key "
                    f"itself ({_KEYS_NEW}); valid keys: {', '.join(_CLIENT_KEYS)}",
                )
            else:
                self.problem(key, unknown_key(key, _CLIENT_KEYS))
        name = self.name()
        digest = self._digest()
        instances = self._instances()
        actions = self._actions()
        rate, burst = self._rate()
        if not self.ok or name is None or digest is None or actions is None:
            return None
        return ClientSettings(name, digest, instances, actions, rate, burst)

    def _digest(self) -> str | None:
        value = self.string("key_sha256")
        if value is None:
            return None
        if not _HEX64.fullmatch(value):
            self.problem(
                "key_sha256", f"must be the sha256 of the key: 64 hexadecimal digits ({_KEYS_NEW})"
            )
            return None
        return value.lower()

    def _strings(self, key: str) -> list[str] | None:
        value = self.table.get(key)
        if value is None:
            self.problem(key, "missing")
            return None
        if not isinstance(value, list):
            self.problem(key, f"must be an array of strings, not {type_name(value)}")
            return None
        wrong = [type_name(v) for v in value if not isinstance(v, str)]
        if wrong:
            self.problem(key, f"must be an array of strings, not one holding {wrong[0]}")
            return None
        return list(value)

    def _instances(self) -> tuple[str, ...] | None:
        values = self._strings("instances")
        if values is None:
            return None
        if not values:
            self.problem("instances", 'must name at least one instance, or be ["*"] for all')
            return None
        if "*" in values:
            if len(values) > 1:
                self.problem("instances", '"*" (every instance) must be the only entry')
            return None
        configured = ", ".join(sorted(self.instances)) or "none"
        for name in dict.fromkeys(values):
            if name not in self.instances:
                self.problem(
                    "instances", f"instance {name!r} is not configured; configured: {configured}"
                )
        if len(set(values)) != len(values):
            self.problem("instances", "names an instance more than once")
        return tuple(sorted(set(values)))

    def _actions(self) -> frozenset[Action] | None:
        values = self._strings("actions")
        if values is None:
            return None
        if not values:
            self.problem("actions", f"must name at least one action: {_ACTIONS}")
            return None
        found: set[Action] = set()
        for value in values:
            try:
                found.add(Action(value))
            except ValueError:
                self.problem("actions", f"unknown action {value!r}; valid actions: {_ACTIONS}")
        if found and Action.READ not in found:
            self.problem(
                "actions", "must include 'read': cancel, retry and delete read the execution first"
            )
        return frozenset(found)

    def _rate(self) -> tuple[float | None, int | None]:
        rate: float | None = None
        burst: int | None = None
        if "rate_per_second" in self.table:
            value = self.table["rate_per_second"]
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.problem("rate_per_second", f"must be a number, not {type_name(value)}")
            elif not math.isfinite(value) or value <= 0:
                self.problem("rate_per_second", "must be a positive, finite number")
            else:
                rate = float(value)
        if "burst" in self.table:
            value, complaint = _check(Kind.COUNT, None, self.table["burst"])
            if complaint is not None:
                self.problem("burst", complaint)
            elif "rate_per_second" not in self.table:
                self.problem("burst", "needs rate_per_second (the bucket's refill rate)")
            else:
                assert isinstance(value, int)
                burst = value
        return rate, burst
