"""The peer: Hive Gateway over an OpenAPI description of the team-style simulator.

``prepare`` installs ``@graphql-hive/gateway``, ``@graphql-mesh/compose-cli`` and
``@omnigraph/openapi`` with npm into a cache directory outside the repository
(``~/.cache/execgate/hive``, or ``$EXECGATE_HIVE_DIR``; reused when present), checks the
packages' ``engines`` against the node on PATH, and composes ``bench/hive/openapi.json`` with
``bench/hive/mesh.config.ts`` into a supergraph. The supergraph names the simulator's URL and
token as ``{env.TEAM_SIM_URL}`` / ``{env.TEAM_SIM_TOKEN}``: the gateway process reads them from
its environment. Any step that cannot be done gives a reason instead of a peer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "hive"
PACKAGES = (
    "@graphql-hive/gateway@2",
    "@graphql-mesh/compose-cli@1",
    "@omnigraph/openapi",
    "graphql@16",
)
CHECKED = ("@graphql-hive/gateway", "@graphql-mesh/compose-cli", "@omnigraph/openapi")
EXECUTION_FIELDS = (
    "id status startedAt finishedAt durationMs errorMessage triggerType workflowId workflowName"
)
NODE_FIELDS = (
    "details { nodeExecutions { nodeName nodeType status startedAt durationMs errorMessage } }"
)


def cache_dir() -> Path:
    return Path(os.environ.get("EXECGATE_HIVE_DIR", Path.home() / ".cache/execgate/hive"))


@dataclass(frozen=True, slots=True)
class Hive:
    node: str
    gateway_bin: Path
    supergraph: Path
    version: str
    node_version: str


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


def _engine_ok(node_version: str, engines: str) -> bool:
    """A small reading of ``engines.node``: every ``>=X`` bound must hold."""
    have = _version_tuple(node_version)
    return all(have >= _version_tuple(bound) for bound in re.findall(r">=\s*([\d.]+)", engines))


def _package(root: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / "node_modules" / name / "package.json").read_text())
    return data


def prepare(workdir: Path, log: Any) -> Hive | str:
    """A ready peer, or the reason why there is none."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "node/npm are not installed on this machine"
    node_version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    root = cache_dir()
    gateway_bin = root / "node_modules/.bin/hive-gateway"
    compose_bin = root / "node_modules/.bin/mesh-compose"
    if not (gateway_bin.exists() and compose_bin.exists()):
        root.mkdir(parents=True, exist_ok=True)
        if not (root / "package.json").exists():
            (root / "package.json").write_text('{"name": "execgate-bench-hive", "private": true}\n')
        log(f"installing Hive Gateway with npm into {root} (once) ...")
        done = subprocess.run(
            [npm, "install", *PACKAGES, "--no-audit", "--no-fund"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0 or not gateway_bin.exists():
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-5:])
            return f"npm install failed (exit {done.returncode}): {tail}"
    for name in CHECKED:
        engines = str(_package(root, name).get("engines", {}).get("node", ""))
        if engines and not _engine_ok(node_version, engines):
            return f"{name} needs node {engines}; this machine has {node_version}"
    version = str(_package(root, "@graphql-hive/gateway")["version"])
    compose_dir = workdir / "hive"
    compose_dir.mkdir(exist_ok=True)
    for name in ("openapi.json", "mesh.config.ts"):
        shutil.copy(HERE / name, compose_dir / name)
    link = compose_dir / "node_modules"
    if not link.exists():
        link.symlink_to(root / "node_modules")
    supergraph = compose_dir / "supergraph.graphql"
    done = subprocess.run(
        [str(compose_bin)],
        cwd=compose_dir,
        env={**os.environ, "HIVE_SUPERGRAPH_OUT": str(supergraph)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 or not supergraph.exists():
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-5:])
        return f"mesh-compose failed (exit {done.returncode}): {tail}"
    return Hive(node, gateway_bin, supergraph, version, node_version)


def argv(hive: Hive, port: int) -> list[str]:
    return [
        hive.node,
        str(hive.gateway_bin),
        "supergraph",
        str(hive.supergraph),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def query(team_id: str, count: int) -> str:
    """W1/W4 for Hive: the newest ``count`` executions with their nodes started before ``$to``
    (sent to the API as ``to``, as execgate sends its ``startedBefore``; ``totalElements``
    answers whether more exist, so no extra item is read)."""
    return (
        "query W($to: DateTime) { "
        f'listTeamExecutions(teamId: "{team_id}", page: 0, size: {count}, to: $to) '
        f"{{ totalElements totalPages content {{ {EXECUTION_FIELDS} {NODE_FIELDS} }} }} }}"
    )
