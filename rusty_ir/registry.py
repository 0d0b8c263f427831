"""What the tools can see: dialects and passes from rusty-ir, upstream xDSL and plugins.

Three sources, merged in this order (a later duplicate name is an error):

1. upstream xDSL: every dialect, and the upstream passes listed in
   ``UPSTREAM_PASSES`` (the ones that make sense on rusty-ir's IR);
2. rusty-ir's own registries, ``rusty_ir.dialects.DIALECTS`` and
   ``rusty_ir.passes.PASSES``;
3. plugins: packages that declare an entry point in the group
   ``rusty_ir.plugins``, and files given with ``--load-pass-plugin`` or
   ``--load-dialect-plugin``. A plugin is a module (or any object) with
   optional ``PASSES`` (pass classes) and ``DIALECTS`` (xDSL ``Dialect``s).
   See docs/plugins.md.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rusty_ir.errors import RustyError

if TYPE_CHECKING:  # imported where used: the compile cache finds the installed plugins without xDSL
    from xdsl.context import Context
    from xdsl.ir import Dialect
    from xdsl.passes import ModulePass

PLUGIN_GROUP = "rusty_ir.plugins"

UPSTREAM_PASSES = (
    "apply-pdl",
    "canonicalize",
    "control-flow-hoist",
    "convert-linalg-to-loops",
    "convert-scf-to-cf",
    "cse",
    "dce",
    "gpu-map-parallel-loops",
    "licm",
    "lift-arith-to-linalg",
    "linalg-fuse-multiply-add",
    "linalg-generalize-named-ops",
    "loop-hoist-memref",
    "lower-affine",
    "memref-to-gpu",
    "scf-for-loop-unroll",
    "scf-parallel-loop-tiling",
    "transform-interpreter",
)
"""Upstream xDSL passes offered beside rusty-ir's own (kept alphabetical)."""


_T = TypeVar("_T")


def _returning(value: _T) -> Callable[[], _T]:
    """A registry factory for what a plugin hands over already built."""
    return lambda: value


@dataclass
class Registry:
    """The dialects and passes one tool invocation can use."""

    dialects: dict[str, Callable[[], Dialect]] = field(default_factory=dict)
    passes: dict[str, Callable[[], type[ModulePass]]] = field(default_factory=dict)
    pass_origin: dict[str, str] = field(default_factory=dict)
    """Where each pass comes from: 'rusty-ir', 'xdsl' or the plugin's name."""
    broken: dict[str, str] = field(default_factory=dict)
    """Installed plugins that failed to load, by name: why (they were skipped)."""
    dialect_origin: dict[str, str] = field(default_factory=dict)
    """Where each dialect comes from: 'xdsl', 'rusty-ir' or the plugin's name."""

    def add_dialect(self, name: str, factory: Callable[[], Dialect], origin: str) -> None:
        if name in self.dialects and origin != "xdsl":
            raise RustyError(f"{origin}: dialect '{name}' is already registered")
        self.dialects[name] = factory
        self.dialect_origin[name] = origin

    def add_pass(self, name: str, factory: Callable[[], type[ModulePass]], origin: str) -> None:
        if name in self.passes:
            raise RustyError(f"{origin}: pass '{name}' is already registered (by {self.pass_origin[name]})")
        self.passes[name] = factory
        self.pass_origin[name] = origin

    def add_plugin(self, plugin: Any, origin: str) -> None:
        """Register a plugin's ``PASSES`` and ``DIALECTS``."""
        from xdsl.ir import Dialect
        from xdsl.passes import ModulePass

        passes = tuple(getattr(plugin, "PASSES", ()))
        dialects = tuple(getattr(plugin, "DIALECTS", ()))
        if not passes and not dialects:
            raise RustyError(f"{origin}: a plugin must define PASSES and/or DIALECTS")
        for p in passes:  # all checked before any is registered: a bad plugin leaves nothing behind
            if not (isinstance(p, type) and issubclass(p, ModulePass)):
                raise RustyError(f"{origin}: PASSES entry {p!r} is not a ModulePass subclass")
            if p.name in self.passes:
                raise RustyError(f"{origin}: pass '{p.name}' is already registered (by {self.pass_origin[p.name]})")
        for d in dialects:
            if not isinstance(d, Dialect):
                raise RustyError(f"{origin}: DIALECTS entry {d!r} is not an xdsl Dialect")
            if d.name in self.dialects:
                raise RustyError(f"{origin}: dialect '{d.name}' is already registered")
        for p in passes:
            self.add_pass(p.name, _returning(p), origin)
        for d in dialects:
            self.add_dialect(d.name, _returning(d), origin)

    def load_plugin_file(self, path: str) -> None:
        """Import a Python file as a plugin (``--load-pass-plugin=FILE.py``)."""
        file = Path(path)
        if not file.is_file():
            raise RustyError(f"plugin file '{path}' does not exist")
        spec = importlib.util.spec_from_file_location(f"rusty_plugin_{file.stem}", file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # as import does: dataclasses and pickling look the module up by name
        try:
            spec.loader.exec_module(module)
        except Exception as err:  # a broken plugin is the user's input: report it, no traceback
            del sys.modules[spec.name]
            raise RustyError(f"plugin file '{path}' failed to import: {type(err).__name__}: {err}") from err
        self.add_plugin(module, str(path))

    def context(self) -> Context:
        """A fresh xDSL context with every registered dialect (loaded lazily)."""
        from xdsl.context import Context

        ctx = Context()
        for name, factory in self.dialects.items():
            ctx.register_dialect(name, factory)
        return ctx

    def pass_class(self, name: str) -> type[ModulePass]:
        try:
            return self.passes[name]()
        except KeyError:
            if self.broken:  # the pass may be one of theirs: say which plugins, and why they did not load
                which = "; ".join(f"plugin '{p}' failed to load ({why})" for p, why in self.broken.items())
                raise RustyError(f"unknown pass '{name}'; it may come from a plugin that failed to load: {which}. "
                                 "Fix or reinstall that package (rusty-opt --list-passes shows the passes there are)") from None  # fmt: skip
            raise RustyError(f"unknown pass '{name}' (rusty-opt --list-passes shows them all)") from None

    def add_installed_plugins(self, warn: Callable[[str], None]) -> None:
        """Register the plugins installed under the entry-point group ``PLUGIN_GROUP``. One that fails to load
        or to register is skipped with a warning (a broken package must not break every command); a pipeline
        that names one of its passes fails on that pass, with the reason."""
        for ep in entry_points(group=PLUGIN_GROUP):
            try:
                self.add_plugin(ep.load(), f"plugin '{ep.name}'")
            except Exception as err:  # any failure of third-party code at import
                why = f"{type(err).__name__}: {err}".splitlines()[0] if not isinstance(err, RustyError) else str(err)
                self.broken[ep.name] = why
                warn(f"plugin '{ep.name}' ({ep.value}) failed to load and is skipped: {why}")


def _stderr_warning(message: str) -> None:
    print(f"rusty-ir: warning: {message}", file=sys.stderr)


def _linalg() -> Dialect:
    from rusty_ir.dialects.linalg_ext.upstream import LINALG  # loaded with the dialect
    from rusty_ir.upstream_syntax import fix_linalg_generic

    fix_linalg_generic()
    return LINALG


def _gpu() -> Dialect:
    from rusty_ir.dialects.gpu.upstream import GPU  # loaded with the dialect

    return GPU


def build_registry(plugin_files: Iterable[str] = (), warn: Callable[[str], None] = _stderr_warning) -> Registry:
    """Everything the tools can use: upstream, rusty-ir, installed plugins (a broken one skipped with ``warn``),
    then plugin files (a broken one is an error: the user named it)."""
    from xdsl.dialects import get_all_dialects
    from xdsl.transforms import get_all_passes

    import rusty_ir.dialects.gpu.upstream  # noqa: F401 - the gpu ops passes build (xDSL's) print as mlir-opt writes them
    from rusty_ir.dialects import DIALECTS
    from rusty_ir.passes import PASSES

    reg = Registry()
    for name, factory in get_all_dialects().items():
        reg.add_dialect(name, factory, "xdsl")
    reg.add_dialect("linalg", _linalg, "xdsl")  # upstream's: `-> (T1, T2)` read as MLIR does, the ops xDSL lacks
    reg.add_dialect("gpu", _gpu, "xdsl")  # upstream's, also read as mlir-opt writes it (gpu.kernel, custom syntax)
    for name, factory in DIALECTS.items():
        reg.add_dialect(name, factory, "rusty-ir")
    upstream = get_all_passes()
    for name in UPSTREAM_PASSES:
        reg.add_pass(name, upstream[name], "xdsl")
    for name, pass_factory in PASSES.items():
        reg.add_pass(name, pass_factory, "rusty-ir")
    reg.add_installed_plugins(warn)
    for path in plugin_files:
        reg.load_plugin_file(path)
    return reg
