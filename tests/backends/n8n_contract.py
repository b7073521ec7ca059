"""The n8n adapter's contract, run against any n8n-speaking server (simulator or real n8n).

Each test takes the fixture ``n8n_target`` (see ``N8nTarget``); a test module provides that
fixture and imports the ``Test*`` classes below so pytest collects them there. The tests hold
for shared, long-lived servers too: they only mutate executions they create themselves through
``fresh_failed()`` / ``fresh_running()``, and compare walks with each other rather than with a
fixed count. A target needs at least 20 executions; ``ids`` names one execution per
status it has (success and error at least).

Error answers are compared field by field with what a real n8n 2.41.1 answered
(``tests/data/n8n/``).
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Mapping
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from execgate.backends.http import BackendHTTP
from execgate.backends.n8n import N8nBackend
from execgate.backends.n8n_wire import STATUSES
from execgate.domain.errors import (
    Conflict,
    NotFound,
    UpstreamForbidden,
    UpstreamUnauthorized,
)
from execgate.domain.models import Execution, ExecutionMode, ExecutionQuery, ExecutionStatus

DATA = Path(__file__).resolve().parents[1] / "data" / "n8n"
UNKNOWN_ID = "99999"


class N8nTarget(Protocol):
    """What the contract needs from a server under test."""

    backend: N8nBackend
    http: BackendHTTP
    client: httpx.AsyncClient
    """Raw HTTP to the same server, sending the right ``X-N8N-API-KEY``."""
    api_key: str
    base_url: str
    ids: Mapping[str, str]
    """n8n status → id of an execution in that status (at least success and error)."""
    workflow_id: str
    workflow_name: str
    multi_run_id: str
    """An execution whose ``runData`` holds several runs of ``multi_run_node``."""
    multi_run_node: str
    list_only_key: str
    """A key holding only the ``execution:list`` scope."""

    async def fresh_failed(self) -> str: ...

    async def fresh_running(self) -> str: ...

    def backend_with_key(self, api_key: str) -> N8nBackend:
        """Another adapter for the same server, sending ``api_key`` (closed by the caller)."""
        ...


# ---------------------------------------------------------------------- samples


@cache
def sample_errors() -> dict[str, tuple[int, Any]]:
    """``errors.jsonl``: request description → (status, body)."""
    found: dict[str, tuple[int, Any]] = {}
    for line in (DATA / "errors.jsonl").read_text().splitlines():
        entry = json.loads(line)
        found[entry["request"]] = (entry["http_status"], entry["body"])
    return found


def sample_txt(name: str) -> tuple[int, Any]:
    """A ``.txt`` sample: the JSON body, then a line ``HTTP <status> ...``."""
    body, status_line = (DATA / name).read_text().strip().rsplit("\n", 1)
    return int(status_line.split()[1]), json.loads(body)


def sample_json(name: str) -> Any:
    return json.loads((DATA / name).read_text())


async def answer(response: httpx.Response) -> tuple[int, Any]:
    return response.status_code, response.json()


def b64(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


# ---------------------------------------------------------------------- helpers


async def walk(
    backend: N8nBackend, query: ExecutionQuery, limit: int, *, take: int | None = None
) -> list[str]:
    """Every id the adapter lists, page by page; ``take`` consumes only a prefix of each page
    and resumes with ``position_after`` (as the merged feed does)."""
    seen: list[str] = []
    position: Mapping[str, Any] | None = None
    for _ in range(10_000):
        page = await backend.list_executions(query, limit=limit, position=position)
        assert len(page.items) <= limit
        used = page.items if take is None else page.items[:take]
        seen.extend(item.native_id for item in used)
        if take is not None and len(used) < len(page.items):
            position = backend.position_after(position, used)
            continue
        if page.position is None:
            return seen
        position = page.position
    raise AssertionError("the walk did not end")


def ordered_desc(ids: list[str]) -> bool:
    numbers = [int(i) for i in ids]
    return all(a > b for a, b in itertools.pairwise(numbers))


async def raw_list(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/executions", params=params)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def get_one(target: N8nTarget, native_id: str, include_nodes: bool = True) -> Execution:
    found = await target.backend.get_executions([native_id], include_nodes=include_nodes)
    return found[native_id]


# ---------------------------------------------------------------------- listing


class TestListing:
    async def test_walks_at_every_page_size_yield_each_id_once_newest_first(
        self, n8n_target: N8nTarget
    ) -> None:
        # given the whole list read in the largest pages n8n serves
        backend = n8n_target.backend
        reference = await walk(backend, ExecutionQuery(), 250)
        assert ordered_desc(reference)
        assert set(n8n_target.ids.values()) <= set(reference)
        # when walking it again in small pages, then nothing is lost, repeated or reordered
        for limit in (1, 3, 7):
            assert await walk(backend, ExecutionQuery(), limit) == reference

    async def test_items_read_but_not_consumed_are_not_lost(self, n8n_target: N8nTarget) -> None:
        backend = n8n_target.backend
        reference = await walk(backend, ExecutionQuery(), 250)
        # when only a prefix of each page is used and the rest resumed from position_after
        assert await walk(backend, ExecutionQuery(), 5, take=2) == reference
        assert await walk(backend, ExecutionQuery(), 7, take=1) == reference

    async def test_running_executions_are_hidden_by_n8n_but_listed_by_the_adapter(
        self, n8n_target: N8nTarget
    ) -> None:
        # given a running execution
        running = await n8n_target.fresh_running()
        # then n8n's plain list leaves it out and its status=running list has it
        plain = {item["id"] for item in await raw_list(n8n_target.client, limit=250)}
        assert running not in plain
        only_running = await raw_list(n8n_target.client, status="running", limit=250)
        assert running in {item["id"] for item in only_running}
        assert {item["status"] for item in only_running} == {"running"}
        # and the adapter's merged list has it, in id order, once
        page = await n8n_target.backend.list_executions(ExecutionQuery(), limit=250)
        ids = [item.native_id for item in page.items]
        assert running in ids
        assert ordered_desc(ids)
        listed = next(item for item in page.items if item.native_id == running)
        assert listed.status is ExecutionStatus.RUNNING

    async def test_a_live_poll_reads_the_newest_page_and_each_active_stream_once(
        self, n8n_target: N8nTarget
    ) -> None:
        # given a running execution, which n8n's plain list hides
        running = await n8n_target.fresh_running()
        http = n8n_target.http
        before = http.calls
        # when the live poller reads the instance
        watch = await n8n_target.backend.watch(10)
        # then four requests: the plain list's newest ten, and the running, waiting and new
        # streams, which hold the running execution
        assert watch.calls == http.calls - before == n8n_target.backend.costs().watch_reads
        assert watch.calls == 4
        plain = [item["id"] for item in await raw_list(n8n_target.client, limit=11)]
        assert [e.native_id for e in watch.recent] == plain[:10]
        assert watch.more == (len(plain) > 10)
        assert running in {e.native_id for e in watch.active}
        assert running not in {e.native_id for e in watch.recent}
        assert all(e.status.is_active for e in watch.active)

    async def test_status_filters_return_only_that_status(self, n8n_target: N8nTarget) -> None:
        for raw, native_id in n8n_target.ids.items():
            status = STATUSES[raw]
            ids = await walk(n8n_target.backend, ExecutionQuery(statuses=frozenset({status})), 7)
            assert native_id in ids, raw
            assert ordered_desc(ids)
            found = await n8n_target.backend.get_executions(ids, include_nodes=False)
            assert {found[i].status for i in ids if i in found} == {status}

    async def test_several_statuses_merge_one_stream_each(self, n8n_target: N8nTarget) -> None:
        wanted = frozenset({ExecutionStatus.SUCCESS, ExecutionStatus.FAILED})
        # when listing two statuses in one page
        page = await n8n_target.backend.list_executions(ExecutionQuery(statuses=wanted), limit=5)
        # then one request per status was made and the items interleave by id
        assert page.calls == 2
        assert len(page.items) == 5
        assert {item.status for item in page.items} <= wanted
        assert ordered_desc([item.native_id for item in page.items])
        every = await walk(n8n_target.backend, ExecutionQuery(statuses=wanted), 4)
        success = await walk(
            n8n_target.backend, ExecutionQuery(statuses=frozenset({ExecutionStatus.SUCCESS})), 250
        )
        failed = await walk(
            n8n_target.backend, ExecutionQuery(statuses=frozenset({ExecutionStatus.FAILED})), 250
        )
        assert sorted(every, key=int, reverse=True) == every
        assert set(every) == set(success) | set(failed)

    async def test_include_nodes_reads_twenty_with_one_call_per_stream(
        self, n8n_target: N8nTarget
    ) -> None:
        http = n8n_target.http
        before = http.calls
        # when 20 executions are listed with their node runs
        page = await n8n_target.backend.list_executions(
            ExecutionQuery(include_nodes=True), limit=20
        )
        # then the plain and the running stream were each read once, and no detail call made
        # but one per queued execution, for the creation time its list item lacks
        assert len(page.items) == 20
        queued = sum(1 for i in page.items if i.status is ExecutionStatus.PENDING)
        assert page.calls == 2 + queued
        assert http.calls - before == 2 + queued
        assert all(i.created_at is not None for i in page.items if i.started_at is None)
        assert all(item.node_executions is not None for item in page.items)
        started = [i for i in page.items if i.status is not ExecutionStatus.PENDING]
        assert any(item.node_executions for item in started)
        assert all(item.workflow_name for item in page.items)

    async def test_workflow_filter(self, n8n_target: N8nTarget) -> None:
        query = ExecutionQuery(workflow_id=n8n_target.workflow_id)
        ids = await walk(n8n_target.backend, query, 4)
        assert ids
        found = await n8n_target.backend.get_executions(ids, include_nodes=False)
        assert {e.workflow_id for e in found.values()} == {n8n_target.workflow_id}
        everything = await walk(n8n_target.backend, ExecutionQuery(), 250)
        assert set(ids) < set(everything)

    async def test_date_filters_keep_executions_started_in_the_window(
        self, n8n_target: N8nTarget
    ) -> None:
        page = await n8n_target.backend.list_executions(ExecutionQuery(), limit=250)
        starts = sorted(e.started_at for e in page.items if e.started_at is not None)
        # bounds a millisecond off any start, so inclusive and exclusive bounds agree
        low = starts[len(starts) // 4] - timedelta(milliseconds=1)
        high = starts[(3 * len(starts)) // 4] + timedelta(milliseconds=1)
        query = ExecutionQuery(started_after=low, started_before=high)
        ids = await walk(n8n_target.backend, query, 3)
        found = await n8n_target.backend.get_executions(ids, include_nodes=False)
        assert ids
        for execution in found.values():
            assert execution.started_at is not None
            assert low <= execution.started_at <= high
        expected = [
            e.native_id
            for e in page.items
            if e.started_at is not None and low <= e.started_at <= high
        ]
        assert ids == expected

    async def test_count_is_unknown(self, n8n_target: N8nTarget) -> None:
        assert await n8n_target.backend.count_executions(ExecutionQuery()) is None


# ---------------------------------------------------------------------- reads


class TestReads:
    async def test_every_status_parses_with_its_details(self, n8n_target: N8nTarget) -> None:
        ids = n8n_target.ids
        found = await n8n_target.backend.get_executions(list(ids.values()), include_nodes=True)
        for raw, native_id in ids.items():
            execution = found[native_id]
            assert execution.status is STATUSES[raw]
            assert execution.status_raw == raw
            assert execution.key.instance == n8n_target.backend.name
            assert execution.created_at is not None
            assert execution.node_executions is not None
        assert found[ids["success"]].finished is True
        assert found[ids["success"]].duration_ms is not None
        if "running" in ids:
            assert found[ids["running"]].finished_at is None
        failed = found[ids["error"]]
        assert failed.error_message
        assert failed.node_executions
        assert failed.node_executions[-1].status is ExecutionStatus.FAILED
        assert failed.node_executions[-1].error_message == failed.error_message
        if "new" in ids:
            assert found[ids["new"]].started_at is None
            assert found[ids["new"]].node_executions == ()
        if "canceled" in ids:
            assert found[ids["canceled"]].error_message == "The execution was cancelled manually"
        if "crashed" in ids:
            crashed = found[ids["crashed"]]
            assert crashed.error_message == "Workflow did not finish, possible out-of-memory issue"
            assert crashed.node_executions
            assert crashed.node_executions[-1].status is ExecutionStatus.CRASHED
            assert crashed.node_executions[0].position == 0
        if "waiting" in ids:
            waiting = found[ids["waiting"]]
            assert waiting.node_executions
            assert waiting.node_executions[-1].status is ExecutionStatus.WAITING

    async def test_node_runs_follow_execution_order_and_inputs_come_from_sources(
        self, n8n_target: N8nTarget
    ) -> None:
        # given the raw run data of an execution where one node ran several times
        native_id = n8n_target.multi_run_id
        response = await n8n_target.client.get(
            f"/api/v1/executions/{native_id}", params={"includeData": "true"}
        )
        run_data = response.json()["data"]["resultData"]["runData"]
        # when the adapter reads it
        execution = await get_one(n8n_target, native_id)
        nodes = execution.node_executions
        assert nodes is not None
        # then every run becomes one node execution, positioned 0..n-1
        assert len(nodes) == sum(len(runs) for runs in run_data.values())
        assert [n.position for n in nodes] == list(range(len(nodes)))
        repeated = [n for n in nodes if n.node_name == n8n_target.multi_run_node]
        assert len(repeated) >= 2
        assert [n.run_index for n in repeated] == list(range(len(repeated)))
        assert [n.key.native_id for n in repeated] == [
            f"{n8n_target.multi_run_node}#{i}" for i in range(len(repeated))
        ]
        # each run's input is the output of the run it read from, which came earlier
        placed = {(n.node_name, n.run_index): n for n in nodes}
        for node in nodes:
            raw = run_data[node.node_name][node.run_index]
            assert node.output_data == raw.get("data")
            assert node.duration_ms == raw["executionTime"]
            sources = [s for s in raw["source"] if s]
            if not sources:
                assert node.input_data is None
                continue
            expected = []
            for source in sources:
                parent = placed[(source["previousNode"], source["previousNodeRun"])]
                assert parent.position < node.position
                expected.append(parent.output_data["main"][source["previousNodeOutput"]])
            assert node.input_data == {"main": expected}
        trigger = nodes[0]
        assert trigger.input_data is None
        assert execution.input_data == trigger.output_data
        assert execution.output_data == nodes[-1].output_data

    async def test_node_types_come_from_the_workflow(self, n8n_target: N8nTarget) -> None:
        execution = await get_one(n8n_target, n8n_target.ids["success"])
        assert execution.node_executions
        assert all(
            n.node_type and n.node_type.startswith("n8n-nodes-base.")
            for n in execution.node_executions
        )
        assert execution.workflow_name

    async def test_without_nodes_no_runs_are_parsed(self, n8n_target: N8nTarget) -> None:
        execution = await get_one(n8n_target, n8n_target.ids["success"], include_nodes=False)
        assert execution.node_executions is None
        assert execution.workflow_name is None

    async def test_workflow_names(self, n8n_target: N8nTarget) -> None:
        workflows = await n8n_target.backend.get_workflows(
            [n8n_target.workflow_id, "NoSuchWorkflow01"]
        )
        assert set(workflows) == {n8n_target.workflow_id}
        workflow = workflows[n8n_target.workflow_id]
        assert workflow.name == n8n_target.workflow_name
        assert workflow.key.instance == n8n_target.backend.name
        ids = await walk(
            n8n_target.backend, ExecutionQuery(workflow_id=n8n_target.workflow_id), 250
        )
        execution = await get_one(n8n_target, ids[0])
        assert execution.workflow_name == n8n_target.workflow_name

    async def test_unknown_and_malformed_ids_are_absent(self, n8n_target: N8nTarget) -> None:
        calls = n8n_target.http.calls
        found = await n8n_target.backend.get_executions(
            [UNKNOWN_ID, "abc", "0", "-3"], include_nodes=True
        )
        assert found == {}
        # only the well-formed id was asked for
        assert n8n_target.http.calls - calls == 1

    async def test_retry_links_are_strings(self, n8n_target: N8nTarget) -> None:
        created = await n8n_target.backend.retry(await n8n_target.fresh_failed())
        page = await n8n_target.backend.list_executions(ExecutionQuery(), limit=250)
        retries = [e for e in page.items if e.retry_of is not None]
        assert created.native_id in {e.native_id for e in retries}
        for retry in retries:
            assert retry.mode is ExecutionMode.RETRY
            assert retry.retry_of is not None and retry.retry_of.isdigit()


# ---------------------------------------------------------------------- error answers


class TestErrorAnswers:
    async def test_wrong_key_is_401_like_n8n(self, n8n_target: N8nTarget) -> None:
        response = await n8n_target.client.get(
            "/api/v1/executions", headers={"X-N8N-API-KEY": "not-the-key"}
        )
        assert await answer(response) == sample_errors()["GET /executions wrong key"]

    async def test_bearer_header_alone_is_401_like_n8n(self, n8n_target: N8nTarget) -> None:
        request = n8n_target.client.build_request("GET", "/api/v1/executions")
        del request.headers["X-N8N-API-KEY"]
        request.headers["Authorization"] = f"Bearer {n8n_target.api_key}"
        response = await n8n_target.client.send(request)
        assert await answer(response) == sample_errors()["GET /executions Bearer header"]

    async def test_unknown_and_malformed_ids(self, n8n_target: N8nTarget) -> None:
        client, samples = n8n_target.client, sample_errors()
        got = await answer(await client.get(f"/api/v1/executions/{UNKNOWN_ID}"))
        assert got == samples["GET /executions/99999"]
        assert (
            await answer(await client.get("/api/v1/executions/abc"))
            == samples["GET /executions/abc"]
        )
        assert (
            await answer(await client.get("/api/v1/executions/0")) == samples["GET /executions/0"]
        )
        got = await answer(await client.delete(f"/api/v1/executions/{UNKNOWN_ID}"))
        assert got == samples["DELETE /executions/99999"]
        got = await answer(await client.get("/api/v1/nonexistent"))
        assert got == samples["GET /api/v1/nonexistent"]

    async def test_invalid_cursors(self, n8n_target: N8nTarget) -> None:
        client, samples = n8n_target.client, sample_errors()
        got = await answer(await client.get("/api/v1/executions", params={"cursor": "garbage"}))
        assert got == samples["GET /executions?cursor=garbage"]
        got = await answer(await client.get("/api/v1/executions", params={"cursor": b64(123)}))
        assert got == samples["GET /executions?cursor=base64 of 123"]

    async def test_invalid_query_values(self, n8n_target: N8nTarget) -> None:
        client, samples = n8n_target.client, sample_errors()
        for request, params in [
            ("GET /executions?limit=-1", {"limit": "-1"}),
            ("GET /executions?limit=abc", {"limit": "abc"}),
            ("GET /executions?status=failed", {"status": "failed"}),
            ("GET /executions?status=queued", {"status": "queued"}),
            ("GET /executions?status=error,success", {"status": "error,success"}),
            ("GET /executions?includeData=1", {"includeData": "1"}),
            ("GET /executions?includeData=yes", {"includeData": "yes"}),
            ("GET /executions?startedAfter=notadate", {"startedAfter": "notadate"}),
            ("GET /executions?workflowId=doesnotexist", {"workflowId": "doesnotexist"}),
            ("GET /executions?projectId=doesnotexist", {"projectId": "doesnotexist"}),
        ]:
            got = await answer(await client.get("/api/v1/executions", params=params))
            assert got == samples[request], request

    async def test_retry_of_a_success_is_409_like_n8n(self, n8n_target: N8nTarget) -> None:
        native_id = n8n_target.ids["success"]
        response = await n8n_target.client.post(f"/api/v1/executions/{native_id}/retry")
        assert await answer(response) == sample_txt("execution-retry-success.txt")
        with pytest.raises(Conflict) as caught:
            await n8n_target.backend.retry(native_id)
        assert caught.value.reason == "not_retryable"
        assert caught.value.message == sample_txt("execution-retry-success.txt")[1]["message"]

    async def test_retry_of_an_unknown_id_is_404_like_n8n(self, n8n_target: N8nTarget) -> None:
        response = await n8n_target.client.post(f"/api/v1/executions/{UNKNOWN_ID}/retry")
        assert await answer(response) == sample_txt("execution-retry-unknown.txt")
        with pytest.raises(NotFound):
            await n8n_target.backend.retry(UNKNOWN_ID)

    async def test_stop_of_a_finished_execution_is_409_like_n8n(
        self, n8n_target: N8nTarget
    ) -> None:
        native_id = n8n_target.ids["success"]
        status, body = sample_txt("execution-stop-finished.txt")
        # the sample stopped execution 1; the message names the id and its status
        expected = body["message"].replace(" 1 is ", f" {native_id} is ")
        response = await n8n_target.client.post(f"/api/v1/executions/{native_id}/stop")
        assert await answer(response) == (status, {"message": expected})
        with pytest.raises(Conflict) as caught:
            await n8n_target.backend.cancel(native_id)
        assert caught.value.reason == "not_cancellable"

    async def test_stop_of_an_unknown_id_is_404_like_n8n(self, n8n_target: N8nTarget) -> None:
        response = await n8n_target.client.post(f"/api/v1/executions/{UNKNOWN_ID}/stop")
        assert await answer(response) == sample_txt("execution-stop-unknown.txt")
        with pytest.raises(NotFound):
            await n8n_target.backend.cancel(UNKNOWN_ID)

    async def test_delete_of_a_running_execution_is_400_like_n8n(
        self, n8n_target: N8nTarget
    ) -> None:
        native_id = await n8n_target.fresh_running()
        response = await n8n_target.client.delete(f"/api/v1/executions/{native_id}")
        assert await answer(response) == sample_txt("execution-delete-running.txt")
        with pytest.raises(Conflict) as caught:
            await n8n_target.backend.delete(native_id)
        assert caught.value.reason == "running"
        assert (await get_one(n8n_target, native_id, False)).status is ExecutionStatus.RUNNING

    async def test_adapter_errors_name_the_instance_never_the_key_or_url(
        self, n8n_target: N8nTarget
    ) -> None:
        backend = n8n_target.backend_with_key(n8n_target.api_key[::-1] + "x")
        with pytest.raises(UpstreamUnauthorized) as caught:
            await backend.list_executions(ExecutionQuery(), limit=3)
        text = str(caught.value)
        assert n8n_target.backend.name in text
        assert n8n_target.api_key not in text
        assert n8n_target.base_url not in text
        await backend.http.transport.aclose()


# ---------------------------------------------------------------------- wire shapes


def _keys(value: Mapping[str, Any]) -> set[str]:
    return set(value)


class TestWireShapes:
    async def test_list_items_have_the_fields_n8n_lists(self, n8n_target: N8nTarget) -> None:
        plain = sample_json("executions-list-page1.json")["data"][0]
        rich = sample_json("executions-list-limit2-includeData-error.json")["data"][0]
        items = await raw_list(n8n_target.client, limit=3)
        assert {frozenset(item) for item in items} == {frozenset(plain)}
        items = await raw_list(n8n_target.client, limit=3, includeData="true")
        assert {frozenset(item) for item in items} == {frozenset(rich)}
        assert "createdAt" not in plain

    async def test_single_reads_have_the_fields_n8n_returns(self, n8n_target: N8nTarget) -> None:
        native_id = n8n_target.ids["success"]
        bare = (await n8n_target.client.get(f"/api/v1/executions/{native_id}")).json()
        assert _keys(bare) == _keys(sample_json("execution-get-success.json"))
        rich = (
            await n8n_target.client.get(
                f"/api/v1/executions/{n8n_target.ids['error']}", params={"includeData": "true"}
            )
        ).json()
        sample = sample_json("execution-get-error-includeData.json")
        assert _keys(rich) == _keys(sample)
        assert _keys(rich["data"]) >= {"version", "startData", "resultData", "executionData"}
        assert _keys(rich["data"]["resultData"]) == _keys(sample["data"]["resultData"])
        assert _keys(rich["workflowData"]) >= {"id", "name", "nodes", "connections", "settings"}
        run = next(iter(rich["data"]["resultData"]["runData"].values()))[0]
        sample_run = sample["data"]["resultData"]["runData"]["Webhook"][0]
        assert _keys(run) == _keys(sample_run)
        assert isinstance(run["startTime"], int)

    async def test_retry_delete_and_stop_answers(self, n8n_target: N8nTarget) -> None:
        client = n8n_target.client
        # retry: the new execution, without stoppedAt
        failed = await n8n_target.fresh_failed()
        retried = (await client.post(f"/api/v1/executions/{failed}/retry")).json()
        assert _keys(retried) == _keys(sample_json("execution-retry-failed-nobody.json"))
        assert retried["retryOf"] == failed and retried["mode"] == "retry"
        # stop: a short summary
        running = await n8n_target.fresh_running()
        status, body = await answer(await client.post(f"/api/v1/executions/{running}/stop"))
        sample_status, sample_body = sample_txt("execution-stop-running.txt")
        assert status == sample_status
        assert _keys(body) == _keys(sample_body)
        assert (body["status"], body["finished"]) == ("canceled", False)
        # delete: the record, with a numeric id
        status, body = await answer(await client.delete(f"/api/v1/executions/{failed}"))
        sample_status, sample_body = sample_txt("execution-delete-success.txt")
        assert status == sample_status
        assert _keys(body) == _keys(sample_body)
        assert body["id"] == int(failed)


# ---------------------------------------------------------------------- mutations


class TestMutations:
    async def test_retry_creates_a_linked_execution(self, n8n_target: N8nTarget) -> None:
        failed = await n8n_target.fresh_failed()
        # when retrying it
        created = await n8n_target.backend.retry(failed)
        # then a new execution points back at it, with its node runs
        assert created.native_id != failed
        assert created.retry_of == failed
        assert created.mode is ExecutionMode.RETRY
        assert created.status.is_finished
        assert created.node_executions
        assert [n.position for n in created.node_executions] == list(
            range(len(created.node_executions))
        )
        original = await get_one(n8n_target, failed, False)
        expected = created.native_id if created.status is ExecutionStatus.SUCCESS else None
        assert original.retry_success_id == expected
        again = await get_one(n8n_target, created.native_id, False)
        assert again.retry_of == failed

    async def test_cancel_stops_a_running_execution(self, n8n_target: N8nTarget) -> None:
        running = await n8n_target.fresh_running()
        assert await n8n_target.backend.cancel(running) is None
        stopped = await get_one(n8n_target, running)
        assert stopped.status is ExecutionStatus.CANCELLED
        assert stopped.error_message == "The execution was cancelled manually"
        assert stopped.finished_at is not None
        with pytest.raises(Conflict):
            await n8n_target.backend.cancel(running)

    async def test_delete_removes_an_execution(self, n8n_target: N8nTarget) -> None:
        failed = await n8n_target.fresh_failed()
        await n8n_target.backend.delete(failed)
        assert await n8n_target.backend.get_executions([failed], include_nodes=False) == {}
        with pytest.raises(NotFound):
            await n8n_target.backend.delete(failed)
        with pytest.raises(NotFound):
            await n8n_target.backend.delete("abc")


class TestLimitsAndScopes:
    async def test_limit_edges(self, n8n_target: N8nTarget) -> None:
        client = n8n_target.client
        every = (await client.get("/api/v1/executions", params={"limit": 0})).json()
        assert every["nextCursor"] is None, "limit=0 means every row, unbounded"
        total = len(every["data"])
        assert total >= 20
        one = (await client.get("/api/v1/executions", params={"limit": 1})).json()
        assert len(one["data"]) == 1 and one["nextCursor"] is not None
        at_cap = (await client.get("/api/v1/executions", params={"limit": 250})).json()
        over_cap = (await client.get("/api/v1/executions", params={"limit": 251})).json()
        assert len(at_cap["data"]) == min(total, 250)
        assert [e["id"] for e in over_cap["data"]] == [e["id"] for e in at_cap["data"]]
        assert len(over_cap["data"]) <= 250, "above 250 is clamped silently"
        negative = await client.get("/api/v1/executions", params={"limit": -1})
        assert negative.status_code == 400

    async def test_a_key_missing_a_scope_is_403(self, n8n_target: N8nTarget) -> None:
        headers = {"X-N8N-API-KEY": n8n_target.list_only_key}
        some_id = n8n_target.ids["success"]
        listed = await n8n_target.client.get(
            "/api/v1/executions", params={"limit": 1}, headers=headers
        )
        assert listed.status_code == 200
        read = await n8n_target.client.get(f"/api/v1/executions/{some_id}", headers=headers)
        assert (read.status_code, read.json()) == (403, {"message": "Forbidden"})
        limited = n8n_target.backend_with_key(n8n_target.list_only_key)
        try:
            with pytest.raises(UpstreamForbidden) as caught:
                await limited.get_executions([some_id], include_nodes=False)
            assert n8n_target.list_only_key not in str(caught.value)
        finally:
            await limited.http.transport.aclose()
