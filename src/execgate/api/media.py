"""GraphQL over HTTP: which media type answers a request, and with which status.

The GraphQL-over-HTTP specification (https://graphql.github.io/graphql-over-http/draft/)
defines two answers to a well-formed request:

- ``application/json``, the legacy one: 200 for every well-formed request, whatever errors the
  GraphQL response holds (a document that does not parse or validate included);
- ``application/graphql-response+json``: 200 when the response has ``data`` (execution
  errors sit beside it, even when they null it), and a 4xx when it has none: a document that
  does not parse or validate, variables that do not coerce, an operation refused by the limits
  before it runs (400). A response without ``data`` whose error is a server fault is a 500.

``negotiate`` picks one from the ``Accept`` header (none, or ``*/*``: ``application/json``);
``None`` means neither is acceptable (406). ``request_error_status`` says whether a response is
a request error and which status it gets under ``application/graphql-response+json``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
MEDIA_TYPES = (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON)

_EXACT, _SUBTYPE_WILDCARD, _WILDCARD = 2, 1, 0


def _ranges(accept: str) -> list[tuple[str, float]]:
    """The media ranges of an ``Accept`` header with their weights (malformed ones dropped,
    and ranges asking for a charset other than UTF-8)."""
    found: list[tuple[str, float]] = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        media = media.lower()
        if media.count("/") != 1:
            continue
        weight = 1.0
        usable = True
        for param in params:
            name, _, value = param.partition("=")
            name, value = name.strip().lower(), value.strip().strip('"').lower()
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    usable = False
                if not 0.0 <= weight <= 1.0:
                    usable = False
            elif name == "charset" and value not in ("utf-8", "utf8"):
                usable = False
        if usable:
            found.append((media, weight))
    return found


def _match(media_type: str, ranges: list[tuple[str, float]]) -> tuple[float, int]:
    """The weight the most specific matching range gives ``media_type``, and how specific that
    range is (``(0.0, -1)`` when none matches)."""
    kind = media_type.partition("/")[0]
    best = (0.0, -1)
    for media, weight in ranges:
        if media == media_type:
            specificity = _EXACT
        elif media == f"{kind}/*":
            specificity = _SUBTYPE_WILDCARD
        elif media == "*/*":
            specificity = _WILDCARD
        else:
            continue
        if specificity > best[1]:
            best = (weight, specificity)
    return best


@functools.lru_cache(maxsize=128)
def negotiate(accept: str | None) -> str | None:
    """The media type of the answer to a request with this ``Accept`` header, or ``None`` when
    the header accepts neither (HTTP 406).

    The higher weight wins; at equal weight a type named outright beats one reached through a
    wildcard; named both outright, ``application/graphql-response+json`` wins, and reached
    through wildcards only (``*/*``, ``application/*``), ``application/json`` does, as the
    specification asks of servers while clients move over.
    """
    if accept is None or not accept.strip():
        return APPLICATION_JSON
    ranges = _ranges(accept)

    def rank(media_type: str) -> tuple[float, int, bool]:
        weight, specificity = _match(media_type, ranges)
        newer = media_type == GRAPHQL_RESPONSE_JSON
        return weight, specificity, newer if specificity == _EXACT else not newer

    chosen = max(MEDIA_TYPES, key=rank)
    return chosen if rank(chosen)[0] > 0 else None


def request_error_status(response: Mapping[str, object]) -> int | None:
    """The status of a GraphQL response that is a request error (no data: nothing was
    executed), or ``None`` for one that holds data (even ``null`` data, when a field error
    reached the root: such an error has a ``path``).

    A request error is a 400, unless one of its errors is a server fault
    (``INTERNAL_SERVER_ERROR``), which makes it a 500.
    """
    if response.get("data") is not None:
        return None
    errors = response.get("errors")
    if not isinstance(errors, list) or not errors:
        return None
    codes = []
    for error in errors:
        if not isinstance(error, Mapping) or error.get("path") is not None:
            return None
        extensions = error.get("extensions")
        codes.append(extensions.get("code") if isinstance(extensions, Mapping) else None)
    return 500 if "INTERNAL_SERVER_ERROR" in codes else 400
