"""The committed schema.graphql is the schema the code serves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from execgate.api.schema import build_schema, export_schema
from execgate.config import CacheSettings, LimitSettings, ServerSettings

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_committed_schema_matches_the_code() -> None:
    committed = SCHEMA_FILE.read_text()
    printed = export_schema()
    assert committed.strip() == printed.strip(), (
        "schema.graphql is stale: run `execgate export-schema > schema.graphql`"
    )


def test_export_schema_command_prints_it() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "execgate", "export-schema"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == SCHEMA_FILE.read_text().strip()


def test_export_schema_federation_prints_the_subgraph() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "execgate", "export-schema", "--federation"],
        capture_output=True,
        text=True,
        check=True,
    )
    printed = result.stdout.strip()
    assert printed == export_schema(federation=True).strip()
    assert printed.startswith('schema @link(url: "https://specs.apollo.dev/federation/v2.3"')
    assert printed != SCHEMA_FILE.read_text().strip()


def test_the_settings_change_no_part_of_the_schema() -> None:
    tight = build_schema(
        LimitSettings(max_depth=3, max_tokens=50),
        ServerSettings(introspection=False, fast_executor=True),
        CacheSettings(operations=2),
    )
    assert tight.as_str().strip() == SCHEMA_FILE.read_text().strip()


def test_required_surface_is_present() -> None:
    printed = export_schema()
    for fragment in (
        "node(id: ID!): Node",
        "nodes(ids: [ID!]!): [Node]!",
        "instances: [Instance!]!",
        "execution(id: ID!): Execution",
        "enum ExecutionStatus {",
        "type NodeExecution implements Node {",
        "cancelExecution(id: ID!): CancelExecutionPayload!",
        "type ExecutionActionError {",
    ):
        assert fragment in printed, fragment
