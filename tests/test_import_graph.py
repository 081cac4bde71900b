"""No import cycle inside lume_prefect, and ``import lume_prefect`` stays light.

The graph is built from the source with ``ast``: every ``import``/``from ... import`` of a
lume_prefect module, wherever it stands (a function-level import still ties two modules), so
a cycle hidden behind a lazy import is found too; only imports under ``if TYPE_CHECKING:``
are left out (they never run). Modules are nodes; a package's ``__init__``
is the package's node. A name imported from a package that is one of its submodules counts
as an import of that submodule.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lume_prefect"

pytestmark = pytest.mark.unit


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_nodes(tree: ast.AST):
    """Every node, except those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for other in node.orelse:
                yield other
                yield from _runtime_nodes(other)
            continue
        yield node
        yield from _runtime_nodes(node)


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """The graph, built in a child process.

    CPython 3.11's AST constructor keeps its recursion count per interpreter, not per thread:
    a parse here while another thread of the session parses too fails with "AST constructor
    recursion depth mismatch". The child has no other thread.
    """
    done = subprocess.run([sys.executable, "-c", "import json; from tests.test_import_graph import build_graph; "
                           "print(json.dumps({k: sorted(v) for k, v in build_graph().items()}))"],
                          cwd=PACKAGE.parent, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return {name: set(targets) for name, targets in json.loads(done.stdout).items()}


def build_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            for target in targets:
                while target and target not in files:  # `import a.b.c` of a name inside a module
                    target = target.rpartition(".")[0]
                if target and target != name and target.startswith("lume_prefect"):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_the_package():
    graph = import_graph()
    assert "lume_prefect.core.errors" in graph["lume_prefect.files.errors"]
    assert "lume_prefect.registry.store" in graph["lume_prefect.registry.blocks"]
    assert len(graph) > 50


def test_no_import_cycle_inside_lume_prefect():
    assert cycles(import_graph()) == []


def test_core_imports_no_service():
    graph = import_graph()
    services = ("files", "registry", "results", "models", "slurm", "scans", "cli", "services", "profiles")
    for module, targets in graph.items():
        if module.startswith("lume_prefect.core"):
            bad = [t for t in targets if t.split(".")[1] in services]
            assert not bad, f"{module} imports {bad}: core must not import a service"


def test_importing_lume_prefect_does_not_import_prefect():
    code = "import sys, lume_prefect; print(sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'sqlalchemy', 'pandas')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"


def test_the_public_api_is_at_the_top_level():
    code = (
        "from lume_prefect import run_model, deploy_model, reproduce, LumeServices, ModelSpec, SlurmCluster, SlurmJob, "
        "LocalFiles, MountedFiles, S3Files, ModelRegistry, SQLResults, MongoResults\n"
        "import lume_prefect\n"
        "from lume_prefect.models import run_model as also\n"
        "assert also is run_model and run_model.__module__ == 'lume_prefect.models.run'\n"
        "assert all(getattr(lume_prefect, name) is not None for name in lume_prefect.__all__)\n"
        "print(len(lume_prefect.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 35
