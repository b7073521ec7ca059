"""Persisted queries in the Apollo APQ protocol, and an optional allow-list.

A request may carry ``extensions.persistedQuery = {"version": 1, "sha256Hash": H}``:

- with no ``query`` (POST, or GET with ``extensions`` in the URL): the document registered
  under ``H`` runs; an unknown ``H`` answers ``PersistedQueryNotFound`` with the code
  ``PERSISTED_QUERY_NOT_FOUND`` (a request error: 200 as ``application/json``, 400 as
  ``application/graphql-response+json``), and the client sends the document along next time;
- with a ``query``: its sha256 must be ``H`` (else 400, ``BAD_REQUEST``), it runs, and once it
  has run without being refused (it parsed and validated), it is registered under ``H``.

A ``persistedQuery`` of another version, or a hash that is not 64 hexadecimal digits, is 400.
Where the documents are kept is a ``QueryStore``: in process (``MemoryStore``, least recently
used first out) or shared by the replicas in Redis (``shared.redis``).

With ``[server] persisted_only = true``, only the documents of the operator's manifest
(``[server] persisted_queries_file``, Apollo's persisted query manifest format) run, by hash or
in full; anything else answers ``PERSISTED_QUERY_NOT_ALLOWED``, and clients register nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from cross_web import HTTPException
from strawberry.http import GraphQLRequestData

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
_SHA256 = re.compile(r"[0-9a-f]{64}")
MANIFEST_FORMAT = "apollo-persisted-query-manifest"


class QueryStore(Protocol):
    async def get(self, digest: str) -> str | None: ...

    async def put(self, digest: str, query: str) -> None: ...


class MemoryStore:
    """Documents by sha256, in this process: at most ``max_entries``, least recently used out."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._documents: OrderedDict[str, str] = OrderedDict()

    async def get(self, digest: str) -> str | None:
        query = self._documents.get(digest)
        if query is not None:
            self._documents.move_to_end(digest)
        return query

    async def put(self, digest: str, query: str) -> None:
        self._documents[digest] = query
        self._documents.move_to_end(digest)
        while len(self._documents) > self.max_entries:
            self._documents.popitem(last=False)


class PersistedQueryRefused(HTTPException):
    """A persisted query the gateway cannot run: a request error with a GraphQL code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(400, message)
        self.code = code


def sha256_hex(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


class ManifestError(Exception):
    """A persisted query manifest that cannot be used (the message says why)."""


def read_manifest(path: str | Path) -> dict[str, str]:
    """sha256 → document from an Apollo persisted query manifest; every id is checked."""
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"cannot read the persisted query manifest {path}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{path} is not an {MANIFEST_FORMAT} (its 'format' says otherwise)")
    documents: dict[str, str] = {}
    for position, operation in enumerate(manifest.get("operations") or []):
        body = operation.get("body") if isinstance(operation, dict) else None
        digest = operation.get("id") if isinstance(operation, dict) else None
        if not isinstance(body, str) or not isinstance(digest, str):
            raise ManifestError(f"{path}: operations[{position}] needs a string id and body")
        if sha256_hex(body) != digest.lower():
            raise ManifestError(
                f"{path}: operations[{position}]'s id is not the sha256 of its body"
            )
        documents[digest.lower()] = body
    return documents


@dataclasses.dataclass
class PersistedRequest(GraphQLRequestData):
    """A request whose document is to be registered under ``register`` once it has run."""

    register: str | None = None


class PersistedQueries:
    """Resolves the ``persistedQuery`` extension of requests (see the module's docstring)."""

    def __init__(self, store: QueryStore, *, only: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.only = dict(only) if only is not None else None
        """The allow-list (``persisted_only``): sha256 → document; ``None`` when off."""

    async def resolve(self, data: GraphQLRequestData) -> GraphQLRequestData:
        """The request with its document; a ``PersistedRequest`` when it is to be registered
        once it has run."""
        digest = _requested_hash(data.extensions)
        if self.only is not None:
            return self._allowed(data, digest)
        if digest is None:
            return data
        if data.query is None:
            query = await self.store.get(digest)
            if query is None:
                raise PersistedQueryRefused(NOT_FOUND, "PersistedQueryNotFound")
            return dataclasses.replace(data, query=query)
        _check_hash(data.query, digest)
        fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
        return PersistedRequest(**fields, register=digest)

    async def registered(self, data: object, rejected: bool) -> None:
        """Keep the document of ``data`` when it asked for that and ran (was not refused)."""
        if isinstance(data, PersistedRequest) and data.register and data.query and not rejected:
            await self.store.put(data.register, data.query)

    def _allowed(self, data: GraphQLRequestData, digest: str | None) -> GraphQLRequestData:
        assert self.only is not None
        if data.query is not None:
            found = sha256_hex(data.query)
            if digest is not None:
                _check_hash(data.query, digest)
            if found in self.only:
                return data
        elif digest is not None and digest in self.only:
            return dataclasses.replace(data, query=self.only[digest])
        raise PersistedQueryRefused(
            NOT_ALLOWED,
            "this gateway runs only the persisted queries its operator registered; "
            "this document is not one of them",
        )


def _check_hash(query: str, digest: str) -> None:
    if sha256_hex(query) != digest:
        raise HTTPException(400, "provided sha does not match query")


def _requested_hash(extensions: Mapping[str, object] | None) -> str | None:
    """The hash of ``extensions.persistedQuery``, checked; ``None`` without one."""
    if not extensions or "persistedQuery" not in extensions:
        return None
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, Mapping):
        raise HTTPException(400, "extensions.persistedQuery must be an object")
    if persisted.get("version") != 1:
        raise HTTPException(400, "extensions.persistedQuery: only version 1 is supported")
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise HTTPException(
            400, "extensions.persistedQuery.sha256Hash must be 64 lower-case hexadecimal digits"
        )
    return digest
