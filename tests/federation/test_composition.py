"""execgate's subgraph composes with another team's, by both npm composition libraries.

The other subgraph (``node/incidents.graphql``) references ``Execution`` by key from its own
``Incident``, contributes ``Execution.ticket`` and defines its own ``PageInfo``. Composition
must succeed without a single error or hint, and the supergraph must join the types as meant.
"""

from __future__ import annotations

from pathlib import Path

from execgate.api.schema import export_schema
from tests.federation.npm import Packages
from tests.federation.supergraph import INCIDENTS_SDL, compose, field_graphs, joined

EXECGATE_URL = "http://127.0.0.1:8000/graphql"
INCIDENTS_URL = "http://127.0.0.1:4001/graphql"


def test_execgate_and_an_incidents_subgraph_compose_cleanly(
    apollo: Packages, tmp_path: Path
) -> None:
    # when
    result = compose(
        apollo,
        tmp_path,
        {
            "execgate": (EXECGATE_URL, export_schema(federation=True)),
            "incidents": (INCIDENTS_URL, INCIDENTS_SDL.read_text()),
        },
    )
    # then: no error, no hint, from either library
    assert result["apollo"]["errors"] == []
    assert result["apollo"]["hints"] == []
    assert result["guild"]["errors"] == []
    for supergraph in (result["apollo"]["supergraphSdl"], result["guild"]["supergraphSdl"]):
        # Execution is an entity of both, keyed by its global ID; ticket comes from incidents
        assert joined(supergraph, "Execution") == {("EXECGATE", "id"), ("INCIDENTS", "id")}
        assert field_graphs(supergraph, "Execution", "ticket") == {"INCIDENTS"}
        assert field_graphs(supergraph, "Execution", "status") == {"EXECGATE"}
        assert joined(supergraph, "Incident") == {("INCIDENTS", "id")}
        # PageInfo is one shared value type
        assert joined(supergraph, "PageInfo") == {("EXECGATE", None), ("INCIDENTS", None)}
        for entity in ("Instance", "Workflow", "NodeExecution"):
            assert joined(supergraph, entity) == {("EXECGATE", "id")}


def test_both_libraries_refuse_a_page_info_that_is_not_shareable(
    apollo: Packages, tmp_path: Path
) -> None:
    # given: execgate's SDL without @shareable on PageInfo (what federation would be without it)
    unshared = export_schema(federation=True).replace(
        "type PageInfo @shareable {", "type PageInfo {"
    )
    # when
    result = compose(
        apollo,
        tmp_path,
        {
            "execgate": (EXECGATE_URL, unshared),
            "incidents": (INCIDENTS_URL, INCIDENTS_SDL.read_text()),
        },
    )
    # then: this harness sees composition errors, from both libraries
    assert "INVALID_FIELD_SHARING" in {e["code"] for e in result["apollo"]["errors"]}
    assert "INVALID_FIELD_SHARING" in {e["code"] for e in result["guild"]["errors"]}
    assert result["apollo"]["supergraphSdl"] is None
    assert result["guild"]["supergraphSdl"] is None
