"""The package's imports point down the layers: no circle, and no import inside a function to hide one.

Read from the source with `ast` (nothing is imported), so a circle is found even where Python's import order
happens to let it pass today.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "ttpose"
# modules allowed to import the package's own modules inside functions, and why
LAZY = {
    "ttpose.cli": "lazy start-up: `ttpose --help` and `ttpose prepare` do not load what the other commands need",
}


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, for its __init__.py)."""
    found = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def own_imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, bool]]:
    """(imported module, whether inside a function) for each import of the package's own modules; the imports
    under ``if TYPE_CHECKING:`` never run and are left out."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child, in_function)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            in_function = True
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package upwards
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known)]
        found.extend((t, in_function) for t in targets if t.split(".")[0] == PACKAGE and t != name)
        for child in ast.iter_child_nodes(node):
            visit(child, in_function)

    visit(ast.parse(path.read_text(), str(path)), False)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {t for t, _ in own_imports(name, path, known)} for name, path in known.items()}


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of ``graph`` (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (circle := walk(nxt)):
                return circle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (circle := walk(start)):
            return circle
    return None


def test_the_package_imports_form_no_circle():
    """Issue 15: checkpoint <-> personalization and data.cache <-> the dataset loaders were circles, hidden
    by imports inside functions; imports inside functions count here too."""
    graph = import_graph()
    assert "ttpose.config" in graph["ttpose.model.ttp"] and "ttpose.model" in graph["ttpose"]  # the walk sees them
    circle = find_circle(graph)
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_find_circle_finds_one():
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_imports_inside_functions_only_where_there_is_a_reason():
    known = modules()
    inside = sorted(f"{name}: {target}" for name, path in known.items() if name not in LAZY
                    for target, in_function in own_imports(name, path, known) if in_function)
    assert not inside, f"imports inside functions (hoist them, or say why in LAZY): {inside}"
