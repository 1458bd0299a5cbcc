"""The core's modules import one another one way: no cycle, counting imports inside functions too
(a lazy import that closes a cycle hides it, it does not remove it)."""

from __future__ import annotations

import ast
from pathlib import Path

import udabench

CORE = Path(udabench.__file__).parent


def module_names() -> dict[str, Path]:
    names = {}
    for path in CORE.rglob("*.py"):
        parts = path.relative_to(CORE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph() -> dict[str, set[str]]:
    """Each core module -> the core modules it imports anywhere in its text. ``from a.b import c``
    names ``a.b.c`` where that is a module, else ``a.b``. A package that a submodule's import runs
    first is left out: Python has it half-imported already when its ``__init__`` imports the submodule."""
    modules = module_names()
    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported |= {f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                             for alias in node.names}
        graph[name] = {other for other in imported if other in modules and other != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as the modules along it (the first repeated at the end), or ``None``."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" once every path from it is
    path: list[str] = []

    def visit(name):
        state[name] = "open"
        path.append(name)
        for other in sorted(graph[name]):
            if state.get(other) == "open":
                return path[path.index(other):] + [other]
            if other not in state and (cycle := visit(other)):
                return cycle
        state[name] = "done"
        path.pop()
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name)):
            return cycle
    return None


def test_the_graph_sees_lazy_imports_between_submodules():
    graph = import_graph()
    assert "udabench.data.integrity" in graph["udabench.data.loading"]
    assert "udabench.runner.build" in graph["udabench.features"]
    assert "torch" not in graph["udabench.runner.loop"]  # only the core's own modules


def test_a_cycle_is_found():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_core_module_imports_itself_through_others():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
