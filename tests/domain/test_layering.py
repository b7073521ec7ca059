"""The domain imports no framework, and layers import one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "execgate"
FRAMEWORKS = ("strawberry", "httpx", "starlette", "uvicorn", "aiodataloader", "graphql")


def _imports(package: str) -> set[str]:
    found: set[str] = set()
    for path in (SRC / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
    return found


def test_domain_imports_no_framework() -> None:
    imported = _imports("domain")
    assert imported, "the domain package was read"
    offenders = sorted(m for m in imported if m.split(".")[0] in FRAMEWORKS)
    assert offenders == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("domain", ("execgate.service", "execgate.api", "execgate.backends", "execgate.simulate")),
        (
            "service",
            ("execgate.api", "execgate.backends", "execgate.simulate", "httpx", "strawberry"),
        ),
        ("backends", ("execgate.service", "execgate.api", "execgate.simulate", "strawberry")),
        ("api", ("execgate.backends", "execgate.simulate", "execgate.security", "httpx")),
        ("config", ("execgate.service", "execgate.api", "execgate.backends", "execgate.security")),
    ],
)
def test_layers_import_one_way(package: str, forbidden: tuple[str, ...]) -> None:
    imported = _imports(package)
    offenders = sorted(m for m in imported if m.startswith(forbidden))
    assert offenders == []


def _module_graph() -> dict[str, set[str]]:
    """execgate module → the execgate modules it imports (anywhere in it)."""
    modules = {}
    for path in SRC.rglob("*.py"):
        parts = ("execgate", *path.relative_to(SRC).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def test_no_module_imports_itself_through_others() -> None:
    graph = _module_graph()
    circles = []
    for start in graph:
        stack = [(start, (start,))]
        seen: set[str] = set()
        while stack:
            module, path = stack.pop()
            for imported in graph[module]:
                if imported == start:
                    circles.append(" -> ".join((*path, start)))
                elif imported not in seen:
                    seen.add(imported)
                    stack.append((imported, (*path, imported)))
    assert circles == []


def test_domain_modules_load_without_frameworks() -> None:
    # given a fresh interpreter where the frameworks cannot be imported
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {FRAMEWORKS!r}: raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import execgate.domain.models, execgate.domain.errors, execgate.domain.ports, "
        "execgate.domain.keys\n"
        "print('ok')\n"
    )
    # when the domain is imported, then it loads
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr
