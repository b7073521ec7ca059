"""The security half of the configuration: ``[[clients]]``, ``[limits]`` and ``[audit]``.

Checked with the same care as the instances: unknown keys (with a suggestion), wrong types,
ranges, instance names that are not configured, unknown actions, malformed key hashes,
duplicate client names and duplicate keys — every problem named by client (or position) and
key. A value that may be a secret (a pasted key) is never echoed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from execgate.config_messages import NAME, type_name, unknown_key
from execgate.service.scope import Action

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_CLIENT_KEYS = ("name", "key_sha256", "instances", "actions", "rate_per_second", "burst")
_LIMIT_KEYS = ("max_backend_calls", "max_depth", "max_aliases", "max_first", "max_tokens")
_AUDIT_KEYS = ("path",)
_ACTIONS = ", ".join(a.value for a in Action)
_KEYS_NEW = "run 'execgate keys new NAME' to make a key and its [[clients]] table"


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
    """Per-operation limits, checked before any backend call."""

    max_backend_calls: int = 250
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000


class SecurityReader:
    """Reads the security tables of a parsed document, appending problems to ``problems``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    # ---------------------------------------------------------------- [limits]

    def limits(self, table: object) -> tuple[LimitSettings, int | None]:
        """The limits, and ``max_first`` when the table sets it."""
        defaults = LimitSettings()
        if table is None:
            return defaults, None
        if not isinstance(table, dict):
            self.problems.append(
                f"key 'limits': must be a table ([limits]), not {type_name(table)}"
            )
            return defaults, None
        for key in table:
            if key not in _LIMIT_KEYS:
                self.problems.append(f"[limits]: {unknown_key(key, _LIMIT_KEYS)}")
        values: dict[str, int] = {}
        for key in _LIMIT_KEYS:
            if key in table:
                number = self._count("[limits]", key, table[key])
                if number is not None:
                    values[key] = number
        max_first = values.pop("max_first", None)
        return LimitSettings(**values), max_first

    def _count(self, label: str, key: str, value: object) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.append(
                f"{label}: key {key!r}: must be an integer, not {type_name(value)}"
            )
            return None
        if value < 1:
            self.problems.append(f"{label}: key {key!r}: must be at least 1")
            return None
        return value

    # ----------------------------------------------------------------- [audit]

    def audit(self, table: object) -> str | None:
        if table is None:
            return None
        if not isinstance(table, dict):
            self.problems.append(f"key 'audit': must be a table ([audit]), not {type_name(table)}")
            return None
        for key in table:
            if key not in _AUDIT_KEYS:
                self.problems.append(f"[audit]: {unknown_key(key, _AUDIT_KEYS)}")
        if "path" not in table:
            return None
        value = table["path"]
        if not isinstance(value, str):
            self.problems.append(f"[audit]: key 'path': must be a string, not {type_name(value)}")
            return None
        if not value.strip():
            self.problems.append("[audit]: key 'path': must not be empty (omit it for stderr)")
            return None
        path = Path(value)
        if path.is_dir():
            self.problems.append(f"[audit]: key 'path': {value} is a directory, not a file")
            return None
        if not path.parent.is_dir():
            self.problems.append(f"[audit]: key 'path': the directory {path.parent} does not exist")
            return None
        return value

    # ------------------------------------------------------------- [[clients]]

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


class _ClientReader:
    """Checks one ``[[clients]]`` table."""

    def __init__(
        self,
        parent: SecurityReader,
        table: dict[str, Any],
        position: int,
        instances: frozenset[str],
    ) -> None:
        self.parent = parent
        self.table = table
        self.instances = instances
        name = table.get("name")
        usable = isinstance(name, str) and NAME.fullmatch(name) is not None
        self.label = f"client {name!r}" if usable else f"clients[{position}]"
        self.ok = True

    def problem(self, key: str, message: str) -> None:
        self.ok = False
        self.parent.problems.append(f"{self.label}: key {key!r}: {message}")

    def read(self) -> ClientSettings | None:
        for key in self.table:
            if key not in _CLIENT_KEYS:
                self._unknown(key)
        name = self._name()
        digest = self._digest()
        instances = self._instances()
        actions = self._actions()
        rate, burst = self._rate()
        if not self.ok or name is None or digest is None or actions is None:
            return None
        return ClientSettings(
            name=name,
            key_sha256=digest,
            instances=instances,
            actions=actions,
            rate_per_second=rate,
            burst=burst,
        )

    def _unknown(self, key: str) -> None:
        if key in ("key", "api_key", "token", "secret", "key_hash", "sha256"):
            # Never echo the value: it may be the key itself.
            self.problem(
                key,
                f"unknown key {key!r}; write the key's sha256 as key_sha256, never the key "
                f"itself ({_KEYS_NEW}); valid keys: {', '.join(_CLIENT_KEYS)}",
            )
        else:
            self.problem(key, unknown_key(key, _CLIENT_KEYS))

    def _required(self, key: str) -> object | None:
        if key not in self.table:
            self.problem(key, "missing")
            return None
        value: object = self.table[key]
        return value

    def _name(self) -> str | None:
        value = self._required("name")
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem("name", f"must be a string, not {type_name(value)}")
            return None
        if not value:
            self.problem("name", "must not be empty")
            return None
        if not NAME.fullmatch(value):
            self.problem("name", f"{value!r} may hold only letters, digits, '-' and '_'")
            return None
        return value

    def _digest(self) -> str | None:
        value = self._required("key_sha256")
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem("key_sha256", f"must be a string, not {type_name(value)}")
            return None
        if not _HEX64.fullmatch(value):
            self.problem(
                "key_sha256",
                f"must be the sha256 of the key: 64 hexadecimal digits ({_KEYS_NEW})",
            )
            return None
        return value.lower()

    def _strings(self, key: str) -> list[str] | None:
        value = self._required(key)
        if value is None:
            return None
        if not isinstance(value, list):
            self.problem(key, f"must be an array of strings, not {type_name(value)}")
            return None
        wrong = [type_name(v) for v in value if not isinstance(v, str)]
        if wrong:
            self.problem(key, f"must be an array of strings, not one holding {wrong[0]}")
            return None
        if not value:
            return []
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
                "actions",
                "must include 'read': cancel, retry and delete read the execution first",
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
            value = self.table["burst"]
            if isinstance(value, bool) or not isinstance(value, int):
                self.problem("burst", f"must be an integer, not {type_name(value)}")
            elif value < 1:
                self.problem("burst", "must be at least 1")
            elif "rate_per_second" not in self.table:
                self.problem("burst", "needs rate_per_second (the bucket's refill rate)")
            else:
                burst = value
        return rate, burst
