"""Automatic persisted queries (Apollo's APQ protocol) and the ``persisted_only`` allow-list."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from execgate.api.persisted import ManifestError, read_manifest, sha256_hex
from execgate.app import create_app
from execgate.config import ServerSettings
from execgate.simulate.embedded import embedded, with_demo_client
from tests.serving import serving

QUERY = "query Names { instances { name } }"
DIGEST = sha256_hex(QUERY)
GRAPHQL_RESPONSE = "application/graphql-response+json"


def persisted(digest: str = DIGEST, version: object = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


class Client:
    def __init__(self, http: httpx.AsyncClient, key: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {key}"}

    async def post(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.http.post("/graphql", json=body, headers={**self.headers, **headers})

    async def get(self, params: dict[str, str], **headers: str) -> httpx.Response:
        return await self.http.get("/graphql", params=params, headers={**self.headers, **headers})


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    demo = embedded(seed=7)
    settings, key = with_demo_client(demo.settings)
    async with serving(create_app(settings, transports=demo.transports)) as http:
        yield Client(http, key)


def code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def test_unknown_hash_then_registration_then_hash_only(client: Client) -> None:
    first = await client.post({"extensions": persisted()})
    assert first.status_code == 200
    assert first.json() == {
        "data": None,
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ],
    }
    strict = await client.post({"extensions": persisted()}, accept=GRAPHQL_RESPONSE)
    assert strict.status_code == 400
    assert "data" not in strict.json()
    assert code(strict) == "PERSISTED_QUERY_NOT_FOUND"

    registered = await client.post({"query": QUERY, "extensions": persisted()})
    assert registered.status_code == 200
    names = registered.json()["data"]["instances"]
    assert len(names) == 3

    by_hash = await client.post({"extensions": persisted()})
    assert by_hash.json()["data"]["instances"] == names
    by_get = await client.get({"extensions": json.dumps(persisted())}, accept="*/*")
    assert by_get.status_code == 200
    assert by_get.json()["data"]["instances"] == names


async def test_a_hash_only_get_is_an_operation_not_the_ide_page(client: Client) -> None:
    params = {"extensions": json.dumps(persisted())}
    anonymous = await client.http.get("/graphql", params=params, headers={"accept": "*/*"})
    assert anonymous.status_code == 401
    with_key = await client.get(params, accept="text/html")
    assert with_key.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    ("extensions", "message"),
    [
        (persisted(sha256_hex("{ other }")), "provided sha does not match query"),
        (persisted(version=2), "only version 1"),
        (persisted("ABC"), "64 lower-case hexadecimal digits"),
        ({"persistedQuery": "yes"}, "must be an object"),
    ],
)
async def test_malformed_persisted_queries_are_bad_requests(
    client: Client, extensions: dict[str, Any], message: str
) -> None:
    answer = await client.post({"query": QUERY, "extensions": extensions})
    assert answer.status_code == 400
    assert code(answer) == "BAD_REQUEST"
    assert message in answer.json()["errors"][0]["message"]


async def test_a_document_refused_before_it_runs_is_not_registered(client: Client) -> None:
    broken = "query Broken { nothingHere }"
    refused = await client.post({"query": broken, "extensions": persisted(sha256_hex(broken))})
    assert code(refused) == "GRAPHQL_VALIDATION_FAILED"
    again = await client.post({"extensions": persisted(sha256_hex(broken))})
    assert code(again) == "PERSISTED_QUERY_NOT_FOUND"


def manifest(tmp_path: Path, *documents: str, digest: str | None = None) -> Path:
    operations = [
        {"id": digest or sha256_hex(body), "name": "Op", "type": "query", "body": body}
        for body in documents
    ]
    path = tmp_path / "persisted-query-manifest.json"
    path.write_text(
        json.dumps(
            {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
        )
    )
    return path


async def test_persisted_only_runs_the_manifest_and_nothing_else(tmp_path: Path) -> None:
    demo = embedded(seed=7)
    settings, key = with_demo_client(demo.settings)
    server = ServerSettings(
        persisted_only=True, persisted_queries_file=str(manifest(tmp_path, QUERY))
    )
    app = create_app(dataclasses.replace(settings, server=server), transports=demo.transports)
    async with serving(app) as http:
        client = Client(http, key)
        by_hash = await client.post({"extensions": persisted()})
        assert len(by_hash.json()["data"]["instances"]) == 3
        in_full = await client.post({"query": QUERY})
        assert in_full.json()["data"] == by_hash.json()["data"]
        other = "{ instances { kind } }"
        for body in (
            {"query": other},
            {"query": other, "extensions": persisted(sha256_hex(other))},
        ):
            refused = await client.post(body)
            assert code(refused) == "PERSISTED_QUERY_NOT_ALLOWED"
            assert refused.json()["data"] is None
        # nothing was registered by trying
        assert code(await client.post({"extensions": persisted(sha256_hex(other))})) == (
            "PERSISTED_QUERY_NOT_ALLOWED"
        )


def test_a_manifest_whose_id_is_not_the_hash_of_its_body_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not the sha256 of its body"):
        read_manifest(manifest(tmp_path, QUERY, digest="0" * 64))
    path = tmp_path / "other.json"
    path.write_text('{"format": "something-else"}')
    with pytest.raises(ManifestError, match="is not an apollo-persisted-query-manifest"):
        read_manifest(path)
    assert read_manifest(manifest(tmp_path, QUERY)) == {DIGEST: QUERY}
