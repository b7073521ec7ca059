"""GraphQL over HTTP: the media types, status codes and request checks of ``/graphql``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from execgate.api.ids import encode
from execgate.api.media import (
    APPLICATION_JSON,
    GRAPHQL_RESPONSE_JSON,
    negotiate,
    request_error_status,
)
from execgate.config import LimitSettings
from execgate.domain.access import Action
from tests.security.world import Grant, World, world

TYPENAME = "{ __typename }"
PARSE_ERROR = "{"
VALIDATION_ERROR = "{ notAField }"
COERCION_ERROR = "query Q($id: ID!) { node(id: $id) { id } }"
EXECUTION_ERROR = '{ node(id: "not-a-global-id") { id } }'
EXPENSIVE = "{ executions(first: 100) { edges { node { nodeExecutions { nodeName } } } } }"


# -- negotiation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, APPLICATION_JSON),
        ("", APPLICATION_JSON),
        ("*/*", APPLICATION_JSON),
        ("application/*", APPLICATION_JSON),
        ("application/json", APPLICATION_JSON),
        ("application/json; charset=utf-8", APPLICATION_JSON),
        ("Application/JSON", APPLICATION_JSON),
        ("application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),
        ("application/json, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json;q=0.5, application/json", APPLICATION_JSON),
        ("application/json, */*;q=0.8", APPLICATION_JSON),
        ("application/graphql-response+json, */*", GRAPHQL_RESPONSE_JSON),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", APPLICATION_JSON),
        ("application/json;q=0, */*", GRAPHQL_RESPONSE_JSON),
        ("application/json, multipart/mixed", APPLICATION_JSON),
        ("text/html", None),
        ("application/xml, text/*", None),
        ("application/json;q=0", None),
        ("application/json; charset=iso-8859-1", None),
        ("application/json;q=2", None),
        ("application/json;q=high", None),
        ("garbage", None),
        ("application/graphql+json", None),
    ],
)
def test_negotiate(accept: str | None, chosen: str | None) -> None:
    assert negotiate(accept) == chosen


@pytest.mark.parametrize(
    ("response", "status"),
    [
        ({"data": {"a": 1}}, None),
        ({"data": {"a": None}, "errors": [{"message": "x", "path": ["a"]}]}, None),
        ({"data": None, "errors": [{"message": "x", "path": ["a"]}]}, None),
        ({"data": None, "errors": [{"message": "x", "extensions": {"code": "X"}}]}, 400),
        ({"errors": [{"message": "x"}]}, 400),
        (
            {
                "data": None,
                "errors": [{"message": "x", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}],
            },
            500,
        ),
        ({"data": None}, None),
    ],
)
def test_request_error_status(response: dict[str, Any], status: int | None) -> None:
    assert request_error_status(response) == status


# -- over HTTP -----------------------------------------------------------------------------------


@pytest.fixture
async def gw() -> AsyncIterator[World]:
    async with world([Grant("dash")], limits=LimitSettings(max_backend_calls=15)) as running:
        yield running


def _headers(gw: World, accept: str | None = None, **more: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {gw.keys['dash']}", **more}
    if accept is not None:
        headers["Accept"] = accept
    return headers


async def _post(gw: World, body: Any, accept: str | None = None) -> httpx.Response:
    return await gw.client.post("/graphql", json=body, headers=_headers(gw, accept))


def _codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("document", "variables", "code"),
    [
        (PARSE_ERROR, None, "GRAPHQL_PARSE_FAILED"),
        (VALIDATION_ERROR, None, "GRAPHQL_VALIDATION_FAILED"),
        (COERCION_ERROR, {"id": None}, "BAD_USER_INPUT"),
        ("{ executions(first: 1000) { totalCount } }", None, "BAD_USER_INPUT"),
        (EXPENSIVE, None, "QUERY_TOO_EXPENSIVE"),
        ("{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }", None, "QUERY_TOO_COMPLEX"),
    ],
    ids=["parse", "validation", "variables", "first", "cost", "aliases"],
)
async def test_a_request_error_is_a_400_without_data_as_graphql_response_json(
    gw: World, document: str, variables: dict[str, Any] | None, code: str
) -> None:
    before = gw.calls()
    # when: asked for application/graphql-response+json
    answer = await _post(gw, {"query": document, "variables": variables}, GRAPHQL_RESPONSE_JSON)
    # then: 400, that media type, errors and no data entry
    assert answer.status_code == 400
    assert answer.headers["content-type"] == GRAPHQL_RESPONSE_JSON
    assert set(answer.json()) == {"errors"}
    assert _codes(answer) == [code]
    # and with application/json (or no Accept) the legacy answer stays: 200 with data null
    for accept in (APPLICATION_JSON, None, "*/*"):
        legacy = await _post(gw, {"query": document, "variables": variables}, accept)
        assert legacy.status_code == 200
        assert legacy.headers["content-type"] == APPLICATION_JSON
        assert legacy.json()["data"] is None
        assert _codes(legacy) == [code]
    assert gw.calls() == before, "nothing reached a backend"


async def test_an_execution_error_is_a_200_with_data_in_both_media_types(gw: World) -> None:
    for accept, media_type in (
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (None, APPLICATION_JSON),
    ):
        answer = await _post(gw, {"query": EXECUTION_ERROR}, accept)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == media_type
        body = answer.json()
        assert body["data"] == {"node": None}
        assert [e["path"] for e in body["errors"]] == [["node"]]
        assert _codes(answer) == ["INVALID_ID"]


async def test_a_query_is_answered_in_the_negotiated_media_type(gw: World) -> None:
    for accept, media_type in (
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, {APPLICATION_JSON};q=0.9", GRAPHQL_RESPONSE_JSON),
        (APPLICATION_JSON, APPLICATION_JSON),
        ("*/*", APPLICATION_JSON),
        (None, APPLICATION_JSON),
    ):
        posted = await _post(gw, {"query": "{ instances { name } }"}, accept)
        got = await gw.client.get(
            "/graphql", params={"query": "{ instances { name } }"}, headers=_headers(gw, accept)
        )
        for answer in (posted, got):
            assert answer.status_code == 200
            assert answer.headers["content-type"] == media_type
            assert len(answer.json()["data"]["instances"]) == 3


async def test_an_unacceptable_accept_header_is_a_406_before_anything_runs(gw: World) -> None:
    before = gw.calls()
    for accept in ("text/html", "application/xml", "application/json;q=0"):
        answer = await _post(gw, {"query": "{ executions(first: 5) { totalCount } }"}, accept)
        assert answer.status_code == 406
        assert answer.headers["content-type"] == APPLICATION_JSON
        assert _codes(answer) == ["NOT_ACCEPTABLE"]
        assert "application/graphql-response+json" in answer.json()["errors"][0]["message"]
    assert gw.calls() == before


async def test_a_mutation_sent_with_get_is_a_405_and_never_runs() -> None:
    # given: a client allowed to delete, and a finished execution
    async with world([Grant("dash", None, frozenset({Action.READ, Action.DELETE}))]) as gw:
        store = gw.backends.stores["n8n-prod"]
        native = next(e.id for e in store.visible() if e.finished_at is not None)
        delete = "mutation($id: ID!) { deleteExecution(id: $id) { deletedId errors { code } } }"
        variables = {"id": encode("Execution", f"n8n-prod:{native}")}
        # when: the deletion is sent with GET
        for accept in (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON):
            answer = await gw.client.get(
                "/graphql",
                params={"query": delete, "variables": orjson.dumps(variables).decode()},
                headers=_headers(gw, accept),
            )
            # then: 405, Allow: POST, and nothing was attempted
            assert answer.status_code == 405
            assert answer.headers["allow"] == "POST"
            assert answer.headers["content-type"] == accept
            assert _codes(answer) == ["METHOD_NOT_ALLOWED"]
        assert store.get(native) is not None
        assert gw.audit.entries == []
        # and the same request with POST deletes it
        posted = await _post(gw, {"query": delete, "variables": variables})
        assert posted.json()["data"]["deleteExecution"] == {
            "deletedId": variables["id"],
            "errors": [],
        }
        assert store.get(native) is None


async def test_other_methods_are_a_coded_405(gw: World) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        answer = await gw.client.request(
            method, "/graphql", json={"query": TYPENAME}, headers=_headers(gw)
        )
        assert answer.status_code == 405
        assert answer.headers["allow"] == "GET, POST"
        assert _codes(answer) == ["METHOD_NOT_ALLOWED"]


NOT_A_REQUEST = [
    pytest.param(b"", "Unable to parse request body as JSON", id="empty-body"),
    pytest.param(b'{ "not a JSON', "Unable to parse request body as JSON", id="bad-json"),
    pytest.param(b"1", "must be a JSON object", id="number-body"),
    pytest.param(b"null", "must be a JSON object", id="null-body"),
    pytest.param(b' "{ __typename }"', "must be a JSON object", id="string-body"),
    pytest.param(b"true", "must be a JSON object", id="boolean-body"),
    pytest.param(b"[]", "Batching is not enabled", id="batch"),
    pytest.param(b'{"notquery": "{ __typename }"}', "No GraphQL query found", id="no-query"),
    pytest.param(b'{"query": null}', "No GraphQL query found", id="null-query"),
    pytest.param(b'{"query": {"obj": "ect"}}', "`query` must be a string", id="object-query"),
    pytest.param(b'{"query": 0}', "`query` must be a string", id="number-query"),
    pytest.param(b'{"query": ["{ a }"]}', "`query` must be a string", id="array-query"),
    pytest.param(
        b'{"query": "{ __typename }", "variables": "x"}', "`variables` must be", id="string-vars"
    ),
    pytest.param(
        b'{"query": "{ __typename }", "variables": []}', "`variables` must be", id="array-vars"
    ),
    pytest.param(
        b'{"query": "{ __typename }", "operationName": 0}',
        "`operationName` must be",
        id="number-operation-name",
    ),
    pytest.param(
        b'{"query": "{ __typename }", "operationName": {}}',
        "`operationName` must be",
        id="object-operation-name",
    ),
    pytest.param(
        b'{"query": "{ __typename }", "extensions": false}', "`extensions` must be", id="bad-ext"
    ),
    pytest.param(b'{"query": "{ a }", "operationName": "Nope"}', "Unknown operation", id="name"),
]


@pytest.mark.parametrize(("body", "wording"), NOT_A_REQUEST)
async def test_a_body_that_is_not_one_graphql_request_is_a_coded_400(
    gw: World, body: bytes, wording: str
) -> None:
    for accept, media_type in (
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (APPLICATION_JSON, APPLICATION_JSON),
        (None, APPLICATION_JSON),
    ):
        answer = await gw.client.post(
            "/graphql",
            content=body,
            headers=_headers(gw, accept, **{"Content-Type": "application/json"}),
        )
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"] == media_type
        [error] = answer.json()["errors"]
        assert error["extensions"] == {"code": "BAD_REQUEST"}
        assert wording in error["message"]


@pytest.mark.parametrize(
    "params",
    [
        {"query": TYPENAME, "variables": "[1]"},
        {"query": TYPENAME, "variables": "not json"},
        {"query": TYPENAME, "extensions": "1"},
        {"query": ""},
    ],
)
async def test_a_get_that_is_not_one_graphql_request_is_a_coded_400(
    gw: World, params: dict[str, str]
) -> None:
    answer = await gw.client.get("/graphql", params=params, headers=_headers(gw))
    assert answer.status_code == 400
    assert _codes(answer) == ["BAD_REQUEST"]


async def test_a_post_without_a_json_content_type_is_a_coded_400(gw: World) -> None:
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
        headers = _headers(gw)
        if content_type is not None:
            headers["Content-Type"] = content_type
        answer = await gw.client.post(
            "/graphql", content=b'{"query": "{ __typename }"}', headers=headers
        )
        assert answer.status_code == 400
        assert _codes(answer) == ["BAD_REQUEST"]


async def test_null_parameters_and_utf8_are_accepted(gw: World) -> None:
    for parameter in ("variables", "operationName", "extensions"):
        answer = await _post(gw, {"query": TYPENAME, parameter: None}, GRAPHQL_RESPONSE_JSON)
        assert answer.status_code == 200
        assert answer.json() == {"data": {"__typename": "Query"}}
    answer = await gw.client.post(
        "/graphql",
        content='{"query": "{ __type(name: \\"Run🏃Swim🏊\\") { name } }"}'.encode(),
        headers=_headers(gw, **{"Content-Type": "application/json; charset=utf-8"}),
    )
    assert answer.status_code == 200
    assert answer.json() == {"data": {"__type": None}}
