"""Composing subgraphs with the npm composition libraries, and reading the supergraph they make."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from graphql import ObjectTypeDefinitionNode, StringValueNode, parse

from tests.federation.npm import NODE_DIR, Packages

INCIDENTS_SDL = NODE_DIR / "incidents.graphql"


def compose(packages: Packages, folder: Path, subgraphs: dict[str, tuple[str, str]]) -> Any:
    """What ``@apollo/composition`` and ``@theguild/federation-composition`` make of
    ``subgraphs`` (name → (URL, SDL)): ``{"apollo": {errors, hints, supergraphSdl},
    "guild": {errors, supergraphSdl}}``."""
    services = []
    for name, (url, sdl) in subgraphs.items():
        path = folder / f"{name}.graphql"
        path.write_text(sdl)
        services.append({"name": name, "url": url, "sdl": str(path)})
    listing = folder / "services.json"
    listing.write_text(json.dumps(services))
    node = shutil.which("node") or "node"
    done = subprocess.run(
        [node, str(NODE_DIR / "compose.cjs"), str(listing)],
        env=packages.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _argument(directive: Any, name: str) -> str | None:
    for argument in directive.arguments:
        if argument.name.value == name and isinstance(argument.value, StringValueNode):
            return str(argument.value.value)
    return None


def _graph(directive: Any) -> str | None:
    for argument in directive.arguments:
        if argument.name.value == "graph":
            return str(argument.value.value)
    return None


def _object(sdl: str, type_name: str) -> ObjectTypeDefinitionNode:
    for definition in parse(sdl).definitions:
        if isinstance(definition, ObjectTypeDefinitionNode) and definition.name.value == type_name:
            return definition
    raise AssertionError(f"no type {type_name} in the supergraph")


def joined(sdl: str, type_name: str) -> set[tuple[str | None, str | None]]:
    """(graph, key) of each ``@join__type`` of ``type_name`` in a supergraph."""
    return {
        (_graph(d), _argument(d, "key"))
        for d in _object(sdl, type_name).directives or ()
        if d.name.value == "join__type"
    }


def field_graphs(sdl: str, type_name: str, field_name: str) -> set[str | None]:
    """The graphs a field's ``@join__field`` directives name (empty: every graph of its type)."""
    for field in _object(sdl, type_name).fields:
        if field.name.value == field_name:
            return {_graph(d) for d in field.directives or () if d.name.value == "join__field"}
    raise AssertionError(f"no field {type_name}.{field_name} in the supergraph")
