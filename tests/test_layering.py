"""The import graph follows the layering of docs/architecture.md ("Layering"), and has no cycles.

Layers, lowest first; a module may import its own layer and the layers below it:

    core      rusty_ir's IR utilities, errors, weights, targets, probes, sampling, ... (LAYER_OF_MODULE)
    dialects  rusty_ir.dialects.*   (dialects/)
    passes    rusty_ir.passes.*     (passes/)
    emitters  rusty_ir.backends.*   (backends/) except the runtime
    driver    the compile driver, pipeline and registry, importers, measured tuning, the Python API,
              the benchmarks, the server
    tools     rusty_ir.tools.*      (rusty, rusty-opt, rusty-translate)

The runtime (``rusty_ir.backends.runtime``) stands beside them: it imports core only (and no xDSL,
directly or through core), and only emitters, the driver and the tools import it (the emitters for
the kernel ABI and the schedule format they write).

The graph is read from the source with ``ast``: every ``import``/``from ... import`` anywhere in a
module (at the top, inside functions, under ``if TYPE_CHECKING:``), ``importlib.import_module`` of
a literal, and string literals naming a module of the project (lazy registries such as
``PASSES``). ``from a.b import c`` is an edge to ``a.b.c`` when that is a module, else to ``a.b``.

Besides the layers: no cycle between modules, and none between packages (each package under
``dialects/``, ``passes/``, ``backends/``, ``rusty_ir.importers`` and ``rusty_ir.tools`` counts as
one node; the modules directly in ``rusty_ir/`` count each as their own node).

An edge that breaks a rule and is not fixed yet goes into ``ALLOWED`` with the reason; an entry that
is no longer needed fails the test too, so the list only shrinks.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The folders that install as rusty_ir's packages (setup.py's PACKAGE_DIRS).
PACKAGE_DIRS = {"rusty_ir": "rusty_ir", "rusty_ir.dialects": "dialects", "rusty_ir.passes": "passes", "rusty_ir.backends": "backends"}

LAYERS = ("core", "dialects", "passes", "emitters", "driver", "tools")
RUNTIME = "runtime"

# What each layer may import (besides itself).
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    RUNTIME: {"core"},
    "dialects": {"core"},
    "passes": {"core", "dialects"},
    "emitters": {"core", "dialects", "passes", RUNTIME},
    "driver": {"core", "dialects", "passes", "emitters", RUNTIME},
    "tools": {"core", "dialects", "passes", "emitters", RUNTIME, "driver"},
}

# The layer of each module of rusty_ir/ itself (its subpackages go by prefix, in LAYER_OF_PREFIX).
# A new module there must be added: the test fails until it is.
LAYER_OF_MODULE = {
    "rusty_ir": "core",  # the package root: __version__, and a lazy facade (see ALLOWED)
    "rusty_ir.diagnostics": "core",
    "rusty_ir.errors": "core",
    "rusty_ir.ir": "core",
    "rusty_ir.narrow": "core",
    "rusty_ir.outputs": "core",
    "rusty_ir.probes": "core",
    "rusty_ir.progress": "core",
    "rusty_ir.sampling": "core",
    "rusty_ir.stages": "core",
    "rusty_ir.targets": "core",
    "rusty_ir.upstream_syntax": "core",
    "rusty_ir.weights": "core",
    "rusty_ir.api": "driver",
    "rusty_ir.driver": "driver",
    "rusty_ir.generate": "driver",
    "rusty_ir.numerics": "driver",
    "rusty_ir.pipeline": "driver",
    "rusty_ir.registry": "driver",
    "rusty_ir.serve": "driver",
    "rusty_ir.speculative": "driver",
    "rusty_ir.synthetic": "driver",
}

# Longest prefix wins.
LAYER_OF_PREFIX = {
    "rusty_ir.dialects": "dialects",
    "rusty_ir.passes": "passes",
    "rusty_ir.backends": "emitters",
    "rusty_ir.backends.runtime": RUNTIME,
    "rusty_ir.bench": "driver",
    "rusty_ir.importers": "driver",
    "rusty_ir.tools": "tools",
    "rusty_ir.tuning": "driver",
}

# Edges (importer, imported) that break a rule, each with why it stays for now.
ALLOWED: dict[tuple[str, str], str] = {
    ("rusty_ir", "rusty_ir.api"): (
        "rusty_ir.load/Model are a lazy facade: rusty_ir/__init__.py names rusty_ir.api in a table and imports it "
        "only when the attribute is first read, so `import rusty_ir` (which every submodule import runs) loads nothing"
    ),
}


_MODULE_NAME = re.compile(r"rusty_ir(\.[a-z_][a-z0-9_]*)+")


@dataclass(frozen=True)
class Import:
    target: str
    line: int
    where: str  # "module", "function", "type-checking" or "string"


def _module_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for package, folder in PACKAGE_DIRS.items():
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if package == "rusty_ir" and parts[0] in ("dialects", "passes", "backends"):
                continue
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join([package, *parts])] = path
    return files


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(source: str, module: str, is_package: bool) -> Iterator[Import]:
    """Every name ``module`` imports (absolute, possibly a name inside a module), wherever the import is."""
    tree = ast.parse(source)
    skip: set[int] = set()  # docstrings, and the literal argument of an import_module call
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
    stack: list[tuple[ast.AST, str]] = [(tree, "module")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno, where)
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source_module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source_module = node.module or ""
            for alias in node.names:
                yield Import(f"{source_module}.{alias.name}", node.lineno, where)
            continue
        if isinstance(node, ast.Call) and _called(node.func) in ("import_module", "__import__"):
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield Import(first.value, node.lineno, "function" if where == "module" else where)
                skip.add(id(first))
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, str) and id(node) not in skip and _MODULE_NAME.fullmatch(node.value):
                yield Import(node.value, node.lineno, "string")
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack += [(child, "type-checking") for child in node.body]
            stack += [(child, where) for child in node.orelse]
            continue
        inner = "function" if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) else where
        stack += [(child, inner) for child in ast.iter_child_nodes(node)]


def _called(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


@dataclass(frozen=True)
class Graph:
    modules: dict[str, Path]
    edges: dict[str, dict[str, list[Import]]]  # importer -> imported module -> the imports
    external: dict[str, set[str]]  # module -> top-level names of the other packages it imports

    def resolve(self, name: str) -> str | None:
        """The deepest module of the project that ``name`` is, or is inside of."""
        while name:
            if name in self.modules:
                return name
            name = name.rpartition(".")[0]
        return None


@cache
def import_graph() -> Graph:
    modules = _module_files()
    graph = Graph(modules, {m: {} for m in modules}, {m: set() for m in modules})
    for module, path in modules.items():
        for imp in imports_of(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
            if imp.where == "string" and imp.target not in modules:
                continue  # a name such as the entry-point group "rusty_ir.plugins", not a module
            if imp.target == "rusty_ir" or imp.target.startswith("rusty_ir."):
                target = graph.resolve(imp.target)
                if target is not None and target != module:
                    graph.edges[module].setdefault(target, []).append(imp)
            elif imp.where != "string":
                graph.external[module].add(imp.target.split(".")[0])
    return graph


def layer(module: str) -> str:
    if module in LAYER_OF_MODULE:
        return LAYER_OF_MODULE[module]
    prefixes = [p for p in LAYER_OF_PREFIX if module == p or module.startswith(p + ".")]
    if not prefixes:
        raise KeyError(module)
    return LAYER_OF_PREFIX[max(prefixes, key=len)]


def package_node(module: str) -> str:
    """The node of the package graph a module belongs to."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in ("bench", "importers", "tools"):
        return ".".join(parts[:2])
    if len(parts) >= 3 and parts[1] in ("dialects", "passes", "backends"):
        package = ".".join(parts[:3])
        if (ROOT / parts[1] / parts[2]).is_dir():
            return package
    return module


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:  # recursion depth is bounded by the module count (~150)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in edges.get(node, ()):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
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

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return sorted(found)


def _describe(importer: str, imported: str, imports: Iterable[Import]) -> str:
    path = import_graph().modules[importer].relative_to(ROOT)
    how = ", ".join(sorted({f"{path}:{i.line} ({i.where})" for i in imports}, key=lambda s: int(s.split(":")[1].split()[0])))
    return f"{importer} -> {imported}: {how}"


def _unallowed(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [edge for edge in found if edge not in ALLOWED]


# --- the rules --------------------------------------------------------------------------------------


def test_every_module_has_a_layer():
    missing = []
    for module in import_graph().modules:
        try:
            layer(module)
        except KeyError:
            missing.append(module)
    assert not missing, f"add these modules to LAYER_OF_MODULE in tests/test_layering.py: {missing}"


def _layer_violations() -> dict[tuple[str, str], str]:
    graph = import_graph()
    out = {}
    for importer, targets in graph.edges.items():
        for imported, imports in targets.items():
            src, dst = layer(importer), layer(imported)
            if src != dst and dst not in MAY_IMPORT[src]:
                out[(importer, imported)] = f"[{src} -> {dst}] " + _describe(importer, imported, imports)
    return out


def test_dependencies_point_down_the_layers():
    violations = _layer_violations()
    bad = [violations[e] for e in _unallowed(list(violations))]
    assert not bad, "imports against the layering of docs/architecture.md:\n  " + "\n  ".join(bad)


def _module_edges(without_allowed: bool) -> dict[str, set[str]]:
    graph = import_graph()
    return {a: {b for b in targets if not (without_allowed and (a, b) in ALLOWED)} for a, targets in graph.edges.items()}


def _package_edges(without_allowed: bool) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """Package node -> package node -> the module edges behind it."""
    out: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for a, targets in _module_edges(without_allowed).items():
        for b in targets:
            if package_node(a) != package_node(b):
                out.setdefault(package_node(a), {}).setdefault(package_node(b), []).append((a, b))
    return out


def _cycle_report(components: list[list[str]], edges_within: dict[str, dict[str, list[tuple[str, str]]]]) -> str:
    graph = import_graph()
    blocks = []
    for component in components:
        members = set(component)
        module_edges = sorted(e for a in component for b, es in edges_within.get(a, {}).items() if b in members for e in es)
        blocks.append("\n    ".join(_describe(a, b, graph.edges[a][b]) for a, b in module_edges))
    return "\n\n    ".join(blocks)


def test_no_cycle_between_modules():
    edges = _module_edges(without_allowed=True)
    found = cycles(edges)
    within = {a: {b: [(a, b)] for b in targets} for a, targets in edges.items()}
    assert not found, "import cycles between modules:\n    " + _cycle_report(found, within)


def test_no_cycle_between_packages():
    edges = _package_edges(without_allowed=True)
    found = cycles({a: set(targets) for a, targets in edges.items()})
    assert not found, "import cycles between packages:\n    " + _cycle_report(found, edges)


def test_the_runtime_loads_no_compiler():
    """What the runtime imports, transitively, never imports xDSL (docs/architecture.md: no xDSL imports)."""
    graph = import_graph()
    seen: set[str] = set()
    todo = [m for m in graph.modules if layer(m) == RUNTIME]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += graph.edges[module]
    with_xdsl = sorted(m for m in seen if "xdsl" in graph.external[m])
    assert not with_xdsl, f"the runtime reaches modules that import xDSL: {with_xdsl}"


def test_every_allowance_is_still_needed():
    """An entry of ALLOWED breaks a layer rule, or closes a cycle of modules or packages."""
    needed = set(_layer_violations())
    modules = _module_edges(without_allowed=False)
    for component in cycles(modules):
        needed |= {(a, b) for a in component for b in modules[a] if b in component}
    packages = _package_edges(without_allowed=False)
    for component in cycles({a: set(targets) for a, targets in packages.items()}):
        needed |= {e for a in component for b, es in packages.get(a, {}).items() if b in component for e in es}
    stale = [edge for edge in ALLOWED if edge not in needed]
    assert not stale, f"remove these entries from ALLOWED in tests/test_layering.py, they no longer break a rule: {stale}"


# --- the scanner itself -----------------------------------------------------------------------------


def test_the_scanner_sees_every_kind_of_import():
    source = textwrap.dedent(
        '''
        """rusty_ir.ignored: a docstring is not an import."""
        from typing import TYPE_CHECKING
        import rusty_ir.errors
        from . import sibling
        from ..passes import builder

        if TYPE_CHECKING:
            from rusty_ir.ir import parse_module

        def later():
            import importlib
            from rusty_ir.weights import WeightStore
            return importlib.import_module("rusty_ir.api")

        TABLE = {"x": "rusty_ir.driver"}
        '''
    )
    found = {(i.target, i.where) for i in imports_of(source, "rusty_ir.dialects.thing", is_package=False)}
    assert found == {
        ("typing.TYPE_CHECKING", "module"),
        ("rusty_ir.errors", "module"),
        ("rusty_ir.dialects.sibling", "module"),
        ("rusty_ir.passes.builder", "module"),
        ("rusty_ir.ir.parse_module", "type-checking"),
        ("importlib", "function"),
        ("rusty_ir.weights.WeightStore", "function"),
        ("rusty_ir.api", "function"),
        ("rusty_ir.driver", "string"),
    }


def test_the_graph_holds_function_level_edges():
    """``rusty`` imports its subcommands' modules inside functions; the graph must still see them."""
    edges = import_graph().edges["rusty_ir.tools.rusty"]
    assert "rusty_ir.bench" in edges and all(i.where == "function" for i in edges["rusty_ir.bench"])


@pytest.mark.parametrize("name", ["a", "a.b"])
def test_cycles_finds_strongly_connected_components(name: str):
    assert cycles({name: {"x"}, "x": {"y"}, "y": {name}, "z": {name}}) == [sorted([name, "x", "y"])]
    assert cycles({name: {"x"}, "x": set()}) == []
