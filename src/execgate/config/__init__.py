"""Configuration: the settings dataclasses (``settings``) and the TOML reader (``reader``)."""

from execgate.config.reader import ConfigError, load_settings, read_audit_path
from execgate.config.settings import (
    AuditSettings,
    CacheSettings,
    ClientSettings,
    HTTPSettings,
    InstanceSettings,
    LimitSettings,
    LiveSettings,
    MCPSettings,
    ServerSettings,
    Settings,
)

__all__ = [
    "AuditSettings",
    "CacheSettings",
    "ClientSettings",
    "ConfigError",
    "HTTPSettings",
    "InstanceSettings",
    "LimitSettings",
    "LiveSettings",
    "MCPSettings",
    "ServerSettings",
    "Settings",
    "load_settings",
    "read_audit_path",
]
