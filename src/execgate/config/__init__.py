"""Configuration: the settings dataclasses (``settings``) and the TOML reader (``reader``)."""

from execgate.config.reader import ConfigError, load_settings, read_audit_path
from execgate.config.settings import (
    AuditSettings,
    CacheSettings,
    ClientSettings,
    ExportSettings,
    HTTPSettings,
    InstanceSettings,
    LimitSettings,
    LiveSettings,
    MCPSettings,
    ServerSettings,
    Settings,
    SharedSettings,
)

__all__ = [
    "AuditSettings",
    "CacheSettings",
    "ClientSettings",
    "ConfigError",
    "ExportSettings",
    "HTTPSettings",
    "InstanceSettings",
    "LimitSettings",
    "LiveSettings",
    "MCPSettings",
    "ServerSettings",
    "Settings",
    "SharedSettings",
    "load_settings",
    "read_audit_path",
]
