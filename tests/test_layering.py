"""The house rules, read from the source: models <- grounding <- tracker <- pcagent (nothing imports
upward), no import cycle between modules (an import inside a function counts: it only hides a cycle),
and no folder so crowded that a newcomer cannot guess where a capability lives."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAYERS = ("models", "grounding", "tracker", "pcagent")  # each may import only those before it


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for layer in LAYERS for p in (REPO / layer).rglob("*.py")}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of import nodes under `if TYPE_CHECKING:` (never run, so no cycle)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skipped


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Our modules that `path` imports, at the top or inside functions."""
    tree = ast.parse(path.read_text(), str(path))
    skipped = _type_checking_nodes(tree)
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [n if n in modules else node.module for n in names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def test_no_package_imports_a_layer_above_it():
    upward = []
    for module, imported in _graph().items():
        rank = LAYERS.index(module.split(".")[0])
        upward += [f"{module} imports {other}" for other in imported if LAYERS.index(other.split(".")[0]) > rank]
    assert upward == []


def test_no_import_cycles():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []


def test_the_checker_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from tracker.format.actions import parse_action\n")
    assert _imports(source, _modules()) == {"tracker.format.actions"}


def test_every_folder_is_small_and_says_what_lives_there():
    for layer in LAYERS:
        for folder in [REPO / layer, *(p.parent for p in (REPO / layer).rglob("*/__init__.py"))]:
            modules = [p for p in folder.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
            assert len(modules) <= 10, f"{folder.relative_to(REPO)} has {len(modules)} modules at its top level"
            init = folder / "__init__.py"
            assert init.exists() and ast.get_docstring(ast.parse(init.read_text())), \
                f"{init.relative_to(REPO)} should say in a line or two what lives in its folder"
