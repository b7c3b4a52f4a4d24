"""No import cycles between tracereplay's modules, and every module imports on its own.

The graph is built with ``ast`` from the source files (the ``package-dir`` mapping of pyproject.toml:
``tracereplay.ingest`` → ``ingest/`` …). Every ``import`` of a tracereplay module is an edge, wherever it
sits: at the top of a module or inside a function (an import moved into a function to dodge a cycle is
still that cycle). Imports under ``if TYPE_CHECKING:`` are left out: they never run, they only name types.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "tracereplay": ROOT / "tracereplay",
    "tracereplay.ingest": ROOT / "ingest",
    "tracereplay.model": ROOT / "model",
    "tracereplay.replay": ROOT / "replay",
    "tracereplay.report": ROOT / "report",
}


def _modules() -> dict[str, Path]:
    """Module name → source file, for every .py file of the installed packages."""
    found: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for file in folder.rglob("*.py"):
            relative = file.relative_to(folder).with_suffix("")
            parts = [p for p in relative.parts if p != "__init__"]
            found[".".join([package, *parts])] = file
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The tracereplay modules ``tree`` imports (outside ``if TYPE_CHECKING:`` blocks)."""
    edges: set[str] = set()

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (target := resolve(alias.name)) is not None:
                    edges.add(target)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                target = resolve(f"{base}.{alias.name}") if f"{base}.{alias.name}" in known else resolve(base)
                if target is not None:
                    edges.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    edges.discard(module)
    return edges


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {
        name: _imports(ast.parse(file.read_text(encoding="utf-8")), name, file.name == "__init__.py", known)
        for name, file in modules.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (package ``__init__`` edges to their own children excepted), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def edges(name: str) -> set[str]:
        # a package importing its own submodules (re-exports) is how Python packages work, not a cycle
        return {t for t in graph[name] if not t.startswith(name + ".")}

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for target in sorted(edges(name)):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)) is not None:
            return found
    return None


def test_the_module_import_graph_is_acyclic() -> None:
    graph = import_graph()
    assert "tracereplay.replay.api" in graph and "tracereplay.report.load" in graph
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"p": {"p.x"}, "p.x": {"p"}}) is None  # a package re-exporting its child


def test_function_level_imports_count_and_type_checking_ones_do_not() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import tracereplay.a\n"
        "def f():\n    from tracereplay import b\n"
    )
    assert _imports(tree, "tracereplay.c", False, {"tracereplay", "tracereplay.a", "tracereplay.b"}) == {
        "tracereplay.b"
    }


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    """Every module, imported one after another in a new interpreter (no test-session state helps)."""
    names = sorted(n for n in import_graph() if not n.endswith("__main__"))
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    done = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
