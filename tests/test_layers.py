"""The layer contract (docs/architecture.md): dependencies point one way, no import cycles.

Read from the source with ``ast``, so imports inside functions and under ``TYPE_CHECKING``
count as much as those at the top: a lazy import still ties one layer to another.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Where each installed package's sources live (pyproject's package-dir).
SOURCES = {"knn_al": ROOT / "knn_al", "knn_al.server": ROOT / "server", "knn_al.client": ROOT / "client",
           "knn_al.v1": ROOT / "protos" / "knn_al" / "v1"}

RECORDS = ("knn_al.learner.types", "knn_al.projects.records")
SHARED = ("knn_al.errors",)
#: Layer (a module-name prefix) -> the knn_al modules it may import (prefixes). Checked
#: most specific first; the CLI may import everything.
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "knn_al.errors": (),
    "knn_al.atomic": (),
    "knn_al.dataset": ("knn_al.atomic", *SHARED),
    "knn_al.learner": ("knn_al.learner", *SHARED),
    "knn_al.extras": (*SHARED,),
    # Transports of sharded pools: the learner's shards, run elsewhere.
    "knn_al.sharding": ("knn_al.sharding", "knn_al.learner", "knn_al.extras", *SHARED),
    "knn_al.encoders": ("knn_al.encoders", "knn_al.extras", *SHARED),
    "knn_al.embedding": ("knn_al.embedding", "knn_al.encoders", "knn_al.dataset", "knn_al.atomic", *SHARED),
    "knn_al.projects": ("knn_al.projects", "knn_al.learner", "knn_al.encoders", "knn_al.dataset", "knn_al.atomic",
                        *SHARED),
    "knn_al.simulation": ("knn_al.simulation", "knn_al.learner", "knn_al.dataset", "knn_al.embedding",
                          "knn_al.client", *SHARED),
    # The Label Studio bridge reaches knn-al only as a client does.
    "knn_al.label_studio": ("knn_al.label_studio", "knn_al.client", *RECORDS, *SHARED),
    # The codec checks metadata against the same bounds as the projects.
    "knn_al.v1": ("knn_al.v1", *RECORDS, "knn_al.learner.limits", *SHARED),
    "knn_al.server": ("knn_al.server", "knn_al.projects", "knn_al.learner", "knn_al.sharding", "knn_al.v1", *SHARED),
    "knn_al.client": ("knn_al.client", "knn_al.v1", *RECORDS, "knn_al.learner.limits", *SHARED),
    "knn_al.cli": ("knn_al",),
    "knn_al.__main__": ("knn_al.cli",),
    "knn_al": (),
}
#: Third-party packages a layer must never import, even lazily.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "knn_al.learner": ("grpc", "google.protobuf", "sqlite3", "tensorflow", "tensorflow_hub", "ray"),
    "knn_al.sharding": ("grpc", "google.protobuf", "sqlite3", "tensorflow", "tensorflow_hub"),
    "knn_al.projects": ("grpc", "google.protobuf", "tensorflow", "tensorflow_hub"),
    "knn_al.client": ("faiss", "sqlite3", "tensorflow", "tensorflow_hub", "scipy"),
    "knn_al.v1": ("faiss", "sqlite3", "tensorflow", "tensorflow_hub", "scipy"),
    "knn_al.label_studio": ("faiss", "sqlite3", "tensorflow", "tensorflow_hub", "scipy"),
}


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join([package, *parts])
            if package == "knn_al" and any(name.startswith(p) for p in ("knn_al.server", "knn_al.client", "knn_al.v1")):
                continue
            found[name] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, anywhere in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                base = ".".join(anchor[: len(anchor) - node.level + 1] + ([base] if base else []))
            names.add(base)
            # `from package import module` names a module, not only an attribute.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


MODULES = _modules()
GRAPH = {name: {i for i in _imports(name, path) if i in MODULES} for name, path in MODULES.items()}


def _layer(name: str, table: dict[str, tuple[str, ...]]) -> str | None:
    matches = [prefix for prefix in table if name == prefix or name.startswith(prefix + ".")]
    return max(matches, key=len) if matches else None


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_every_module_belongs_to_a_layer() -> None:
    assert [name for name in MODULES if _layer(name, MAY_IMPORT) is None] == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_imports_only_the_layers_below_it(name: str) -> None:
    layer = _layer(name, MAY_IMPORT)
    assert layer is not None
    allowed = MAY_IMPORT[layer]
    wrong = sorted(i for i in GRAPH[name] if i != name and not _within(i, allowed)
                   and not (layer == "knn_al" and i == "knn_al"))
    assert wrong == [], f"{name} ({layer}) imports {wrong}; it may import {allowed}"
    forbidden = FORBIDDEN.get(_layer(name, FORBIDDEN) or "", ())
    external = sorted(i for i in _imports(name, MODULES[name]) if _within(i, forbidden))
    assert external == [], f"{name} imports {external}"


def test_there_are_no_import_cycles() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in GRAPH[node]:
                cycles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    assert cycles == []


def test_the_client_loads_no_server_side_machinery() -> None:
    import subprocess

    code = ("import sys, knn_al.client\n"
            "heavy = ('faiss', 'sqlite3', 'tensorflow', 'scipy', 'knn_al.learner.learner', 'knn_al.projects.project')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
