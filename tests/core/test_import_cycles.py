"""No import cycles among the core's modules (issue 12): every import counts, those under
``if TYPE_CHECKING:`` and inside functions included, since a cycle there is still a cycle."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "harness" / "core"


def core_imports(path: Path, modules: set[str]) -> set[str]:
    """The core modules ``path`` imports (absolute ``harness.core.X``, ``from harness.core import X``
    and relative ``from . import X`` / ``from .X import ...``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("harness.core."):
                    found.add(alias.name.split(".")[2])
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 1:
                module = "harness.core" + (f".{module}" if module else "")
            if module == "harness.core":
                found.update(alias.name for alias in node.names)
            elif module.startswith("harness.core."):
                found.add(module.split(".")[2])
    return {name for name in found if name in modules and name != path.stem}


def import_graph() -> dict[str, set[str]]:
    modules = {p.stem for p in CORE.glob("*.py") if p.stem != "__init__"}
    return {name: core_imports(CORE / f"{name}.py", modules) for name in sorted(modules)}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path (first node repeated at the end), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in graph:
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_core_modules_import_each_other_without_cycles():
    graph = import_graph()
    assert "saturation" in graph and "capacity" in graph  # the scan sees the modules
    assert "saturation" in graph["capacity"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle among harness/core modules: " + " -> ".join(cycle)
