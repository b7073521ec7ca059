"""A last line of defence: strip configured secrets and backend addresses from error text.

Adapters already name instances, never their URLs or credentials; but a backend's own error
message may be relayed, and a backend (or a proxy in front of it) may echo anything. Every
error leaving the gateway passes through ``Redactor.clean``, which replaces each credential,
each base URL and each host name with ``[redacted]``. It also quiets the HTTP client's own
request logs, which name backend URLs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

REDACTED = "[redacted]"
MAX_RELAYED = 1000
"""The longest text relayed from a backend (after redaction)."""
_MIN_SECRET = 6
_TRANSPORT_LOGGERS = ("httpx", "httpcore")


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        unique = {s for s in secrets if len(s) >= _MIN_SECRET}
        # Longest first, so a URL goes before the host inside it.
        self.secrets = sorted(unique, key=len, reverse=True)

    @classmethod
    def for_backends(cls, credentials: Iterable[str], base_urls: Iterable[str]) -> Redactor:
        """Secrets of the configured instances: credentials, base URLs, hosts with a dot."""
        found = list(credentials)
        for url in base_urls:
            found.append(url)
            parts = urlsplit(url)
            if parts.netloc:
                found.append(parts.netloc)
            host = parts.hostname or ""
            if "." in host or ":" in host:
                found.append(host)
        return cls(found)

    def clean(self, text: str) -> str:
        """``text`` with every secret replaced, then cut to ``MAX_RELAYED`` characters: in
        that order, so a secret near the cut is never half shown."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if len(text) > MAX_RELAYED:
            text = text[:MAX_RELAYED] + "…"
        return text

    def clean_value(self, value: Any) -> Any:
        """``value`` with every string in it cleaned (dicts and lists walked)."""
        if isinstance(value, str):
            return self.clean(value)
        if isinstance(value, dict):
            return {k: self.clean_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.clean_value(v) for v in value]
        return value


def quiet_transport_logs() -> None:
    """The HTTP client logs every request with its URL at INFO: keep those loggers at WARNING
    unless the operator has set their level."""
    for name in _TRANSPORT_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
