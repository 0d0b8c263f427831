"""Pass pipelines: MLIR's textual syntax, building xDSL pipelines, and pass documentation.

MLIR writes ``builtin.module(func.func(canonicalize),cse{opt=1})``; xDSL's
parser takes the flat ``canonicalize,cse{opt=1}`` with no stray spaces. Every
xDSL pass is a module pass, so op anchors are dropped and their contents
flattened in order. Option syntax inside ``{}`` is the same in both.

The text functions (``mlir_to_xdsl_pipeline``, ``split_pipeline``, ``expand_named_pipelines``) import no
xDSL: the compile driver reads pipelines with them to find a compiled model in its cache.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rusty_ir.errors import RustyError
from rusty_ir.stages import DEFAULT_STAGES

if TYPE_CHECKING:  # xDSL is imported where it is used: the text functions serve the compile cache's key
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.ir import Attribute, Operation
    from xdsl.passes import ModulePass, PassPipeline

    from rusty_ir.registry import Registry

_LOWERED_BY: tuple[tuple[str, str], ...] = (
    ("tfm.", "convert-transformer-to-tensor (stage 'tensor')"),
    ("linalg.", "form-dispatches (stage 'dispatch')"),
    ("linalg_ext.", "form-dispatches (stage 'dispatch')"),
    ("rquant.", "form-dispatches (stage 'dispatch')"),
    ("tensor.", "form-dispatches and rusty-bufferize (stages 'dispatch', 'bufferized')"),
    ("bufferization.", "convert-dispatch-to-tiled (stage 'tiled')"),
    ("dispatch.region", "tune-workgroups, rusty-bufferize and convert-dispatch-to-tiled (stages 'tuned' to 'tiled')"),
    ("tiled.", "convert-tiled-to-gpu (stage 'gpu')"),
)
"""Which stage removes each kind of op: what a module at the gpu level must no longer contain."""


def require_gpu_level(module: ModuleOp) -> None:
    """Raise, naming the op and the stage that lowers it, if ``module`` is not gpu-level IR yet.

    Kernel bodies (inside ``gpu.module``) are the emitters' business; this
    checks the host side, which must be only buffers, index arithmetic,
    loops, calls and launches.
    """
    from xdsl.dialects.gpu import ModuleOp as GpuModuleOp

    for op in module.walk():
        if isinstance(op, GpuModuleOp):
            continue
        if any(isinstance(p, GpuModuleOp) for p in _ancestors(op)):
            continue
        for prefix, stage in _LOWERED_BY:
            if op.name.startswith(prefix):
                raise RustyError(f"'{op.name}' is still here: it is lowered by {stage}; run the whole rusty-default pipeline", op)


def _ancestors(op: Operation) -> list[Operation]:
    out: list[Operation] = []
    parent = op.parent_op()
    while parent is not None:
        out.append(parent)
        parent = parent.parent_op()
    return out


def default_pipeline(target: str = "webgpu") -> str:
    """The ``rusty-default`` pipeline as an xDSL pass list."""
    return ",".join(spec.replace("TARGET", target) for _, spec in DEFAULT_STAGES)


_NAMED = re.compile(r"rusty-default(\{target=([\w-]+)\})?")


def expand_named_pipelines(spec: str) -> str:
    """Replace ``rusty-default`` (optionally ``rusty-default{target=apple}``) by its passes."""
    return _NAMED.sub(lambda m: default_pipeline(m.group(2) or "webgpu"), spec)


_ANCHOR = re.compile(r"[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)+\(")  # `builtin.module(`, `func.func(`


def mlir_to_xdsl_pipeline(text: str) -> str:
    """Flatten an MLIR-style pipeline into xDSL's ``-p`` syntax.

    Drops op anchors (``builtin.module(``, ``func.func(``) and their closing
    parentheses, and removes whitespace outside ``{...}`` option lists.
    """
    out: list[str] = []
    depth_braces = 0
    anchors: list[int] = []  # depth of parentheses opened by an anchor
    i = 0
    while i < len(text):
        ch = text[i]
        if depth_braces == 0:
            m = _ANCHOR.match(text, i)
            if m:
                anchors.append(1)
                i = m.end()
                continue
            if ch == "(":
                raise RustyError(f"pipeline '{text}': '(' at column {i + 1} must follow an op name like builtin.module")
            if ch == ")":
                if not anchors:
                    raise RustyError(f"pipeline '{text}': unbalanced ')' at column {i + 1}")
                anchors.pop()
                i += 1
                continue
            if ch.isspace():
                i += 1
                continue
        if ch == "{":
            depth_braces += 1
        elif ch == "}":
            depth_braces -= 1
        out.append(ch)
        i += 1
    if anchors or depth_braces:
        raise RustyError(f"pipeline '{text}': unbalanced parentheses or braces")
    return "".join(out)


@dataclass
class Nest:
    """An op-anchored group of an MLIR pipeline: ``func.func(cse,canonicalize)`` runs its ``items`` on each
    ``func.func`` directly inside the op the enclosing group runs on (MLIR's nested pass manager)."""

    anchor: str
    items: list[str | Nest]


def parse_anchored(text: str) -> list[str | Nest]:
    """An MLIR pipeline as a tree: flat xDSL specs (``a,b{x=1}``) and ``Nest`` groups; the outermost
    ``builtin.module(...)`` is the root itself. Errors as ``mlir_to_xdsl_pipeline``'s."""
    mlir_to_xdsl_pipeline(text)  # the same checks: balanced, '(' only after an anchor
    stack: list[list[str | Nest]] = [[]]
    flat: list[str] = []
    depth_braces, i, anchors = 0, 0, []  # anchors: whether each open '(' is the root builtin.module

    def flush() -> None:
        spec = "".join(flat).strip(",")
        if spec:
            stack[-1].append(spec)
        flat.clear()

    while i < len(text):
        ch = text[i]
        m = _ANCHOR.match(text, i) if depth_braces == 0 else None
        if m:
            flush()
            name = m.group(0)[:-1]
            root = name == "builtin.module" and len(stack) == 1 and not stack[0]
            anchors.append(root)
            if not root:
                nest = Nest(name, [])
                stack[-1].append(nest)
                stack.append(nest.items)
            i = m.end()
            continue
        if depth_braces == 0 and ch == ")":
            flush()
            if not anchors.pop():
                stack.pop()
        elif depth_braces == 0 and ch.isspace():
            pass
        else:
            depth_braces += {"{": 1, "}": -1}.get(ch, 0)
            if not (ch == "," and not flat and depth_braces == 0):
                flat.append(ch)
        i += 1
    flush()
    return stack[0]


def pipeline_items(text: str) -> list[str]:
    """The top-level pass specs of an MLIR or xDSL pipeline, each op-anchored group kept whole as one item (it runs
    as MLIR's nested pass manager): ``builtin.module(a, func.func(b, c), d{x=1})`` -> ``['a', 'func.func(b,c)',
    'd{x=1}']``. Errors as ``parse_anchored``'s and ``split_pipeline``'s."""
    items: list[str] = []
    for item in parse_anchored(text):
        items += [_render(item)] if isinstance(item, Nest) else split_pipeline(item)
    return items


def _render(nest: Nest) -> str:
    """A ``Nest`` as pipeline text: ``anchor(items)``."""
    return f"{nest.anchor}({','.join(_render(i) if isinstance(i, Nest) else i for i in nest.items)})"


def split_pipeline(spec: str) -> list[str]:
    """The pass specs of a flat xDSL pipeline (``a,b{x=1 y=2,3}`` -> ``['a', 'b{x=1 y=2,3}']``): split at the
    commas outside braces and quotes. An empty pass (``a,,b``) is a RustyError."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, ch in enumerate(spec):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(spec[start:i])
            start = i + 1
    parts.append(spec[start:])
    if any(not p.strip() for p in parts):
        raise RustyError(f"pipeline '{spec}': an empty pass name (two commas, or one at an end)")
    return [p.strip() for p in parts]


def spec_pass_name(spec: str) -> str:
    """The pass name of one pass spec (``b{x=1}`` -> ``b``), or the anchor of an op-anchored group
    (``func.func(cse)`` -> ``func.func``)."""
    return re.split(r"[{(]", spec, maxsplit=1)[0].strip()


def build_pipeline(
    registry: Registry,
    spec: str,
    callback: Callable[[ModulePass | None, ModuleOp, ModulePass | None], None] | None = None,
) -> PassPipeline:
    """Parse an xDSL pipeline spec against the registry; every mistake is a RustyError."""
    from xdsl.passes import PassPipeline

    from rusty_ir.ir import inherit_locations, keep_locations_in_rewrites

    passes = _build_items(registry, parse_anchored(expand_named_pipelines(spec)) if "(" in spec else [spec], callback)

    keep_locations_in_rewrites()

    def between(prev: ModulePass | None, module: ModuleOp, nxt: ModulePass | None) -> None:
        if prev is not None:
            inherit_locations(module)  # what the pass built, at the op it built it in (parsed input only)
        if callback is not None:
            callback(prev, module, nxt)
        after = prev.name if prev is not None else None
        if nxt is not None and registry.pass_origin.get(nxt.name) == "rusty-ir":
            require_rusty_subset(module, nxt.name, after)  # one walk for both checks
        elif after is not None:
            require_legal_casts(module, after)

    return PassPipeline(tuple(passes), between)


def _build_items(registry: Registry, items: list[str | Nest],
                 callback: Callable[[ModulePass | None, ModuleOp, ModulePass | None], None] | None) -> list[ModulePass]:  # fmt: skip
    """The passes of a pipeline tree: flat specs parsed against the registry, ``Nest`` groups as ``NestedPass``."""
    from xdsl.utils.arg_spec import ArgSpecParseError, parse_pipeline

    passes: list[ModulePass] = []
    for item in items:
        if isinstance(item, Nest):
            passes.append(nested_pass(item.anchor, tuple(_build_items(registry, item.items, callback)), callback))
            continue
        spec = expand_named_pipelines(item)
        try:
            specs = list(parse_pipeline(spec))
        except ArgSpecParseError as err:  # derives from BaseException
            raise RustyError(f"cannot parse pass pipeline '{spec}': {err}") from None
        for s in specs:
            cls = registry.pass_class(s.name)
            try:
                passes.append(cls.from_pass_spec(s))
            except (ValueError, TypeError, ArgSpecParseError) as err:
                raise RustyError(f"pass '{s.name}': {err}") from None
    return passes


def nested_pass_class() -> type[ModulePass]:
    """``NestedPass`` (built on first use: this module imports no xDSL at import time)."""
    global _NESTED
    if _NESTED is None:
        _NESTED = _make_nested_pass()
    return _NESTED


_NESTED: type[ModulePass] | None = None


def nested_pass(anchor: str, passes: tuple[ModulePass, ...], callback: Any) -> ModulePass:
    """A pass running ``passes`` on each ``anchor`` op (``rusty_ir.pipeline.nested_pass_class``)."""
    return nested_pass_class()(anchor, passes, callback)  # type: ignore[call-arg]  # the dataclass's fields


def _make_nested_pass() -> type[ModulePass]:
    from xdsl.context import Context
    from xdsl.dialects.builtin import ModuleOp
    from xdsl.passes import ModulePass, PassPipeline
    from xdsl.rewriter import InsertPoint, Rewriter

    @dataclasses.dataclass(frozen=True)
    class NestedPassImpl(ModulePass):
        """MLIR's nested pass manager: ``func.func(cse,canonicalize)`` runs ``passes`` on each op named
        ``anchor`` directly inside the op the pipeline runs on, one at a time, each moved alone into a module
        (what an xDSL module pass takes) and put back where it was. A pass on a function sees no other
        symbol, as in MLIR. The callback (``--mlir-print-ir-after`` and such) sees that module."""

        name = "nested"
        anchor: str = ""
        passes: tuple[ModulePass, ...] = ()
        callback: Any = None

        def apply(self, ctx: Context, op: ModuleOp) -> None:
            root = _WRAPPED.get(id(op), op)
            targets = [o for region in root.regions for block in region.blocks for o in block.ops if o.name == self.anchor]
            for target in targets:
                block, after = target.parent_block(), target.next_op
                assert block is not None
                target.detach()
                wrapper = ModuleOp([target])
                _WRAPPED[id(wrapper)] = target
                try:
                    PassPipeline(self.passes, self.callback).apply(ctx, wrapper)
                finally:
                    del _WRAPPED[id(wrapper)]
                    moved = list(wrapper.body.block.ops)
                    for o in moved:
                        o.detach()
                    Rewriter.insert_op(moved, InsertPoint.before(after) if after is not None else InsertPoint.at_end(block))

        def __str__(self) -> str:
            return f"{self.anchor}({','.join(str(p) for p in self.passes)})"

    return NestedPassImpl


_WRAPPED: dict[int, Any] = {}
"""The module a ``NestedPass`` wrapped an op in -> that op (a nested group inside runs on its children)."""


def nested_target(module: ModuleOp) -> Operation | None:
    """The op a ``NestedPass`` runs its group on when ``module`` is the module it wrapped that op in, else None.
    (A callback verifies the whole module after the group, not this one: symbols outside it are not here.)"""
    return _WRAPPED.get(id(module))


def require_rusty_subset(module: ModuleOp, pass_name: str, after: str | None = None) -> None:
    """RustyError, at the op, for IR outside the subset of MLIR that every rusty-ir pass takes (checked before
    each of them runs; upstream and plugin passes take any IR):

    - structured control flow: every region has at most one block (scf, no cf branches);
    - ``linalg.generic`` bodies compute from their own arguments: the yielded values are defined in the body
      or are its block arguments (the kernel generators rebuild the body from them).

    With ``after`` (the pass that just ran), also ``require_legal_casts``'s check, in the same walk.
    """
    from xdsl.dialects.linalg import ops as linalg

    from rusty_ir.passes.dispatch.analysis import defined_within

    for op in module.walk():
        if after is not None and op.name in _CASTS:
            _check_cast(op, after)
        for region in op.regions:
            if len(region.blocks) > 1:
                raise RustyError(f"{pass_name}: a region of {len(region.blocks)} blocks; rusty-ir passes take "
                                 "structured control flow only (scf, one block per region)", op)  # fmt: skip
        terminator = op.body.block.last_op if isinstance(op, linalg.GenericOp) and op.body.blocks else None
        if terminator is not None and not all(defined_within(v, op) for v in terminator.operands):
            raise RustyError(f"{pass_name}: this generic yields a value defined outside its body; rusty-ir passes take "
                             "generics that compute from their own arguments", op)  # fmt: skip


_CASTS: dict[str, bool] = {"arith.extf": True, "arith.extsi": True, "arith.extui": True, "arith.truncf": False, "arith.trunci": False}
"""The casts whose width upstream MLIR verifies and xDSL 0.74 does not: True for those that must widen."""


def require_legal_casts(module: ModuleOp, pass_name: str) -> None:
    """RustyError, at the op, for a cast that upstream MLIR refuses and xDSL does not verify: ``arith.extf``,
    ``extsi`` and ``extui`` must widen, ``truncf`` and ``trunci`` narrow (``arith.extf`` from f32 to f32 is "cast
    incompatible" in mlir-opt). Checked after every pass, naming it."""
    for op in module.walk():
        if op.name in _CASTS:
            _check_cast(op, pass_name)


def _check_cast(op: Operation, pass_name: str) -> None:
    from xdsl.dialects.builtin import AnyFloat, IntegerType, VectorType

    def bits(t: Attribute) -> int | None:
        t = t.element_type if isinstance(t, VectorType) else t
        return t.bitwidth if isinstance(t, AnyFloat) else t.width.data if isinstance(t, IntegerType) else None

    widen = _CASTS[op.name]
    src, dst = op.operands[0].type, op.results[0].type
    a, b = bits(src), bits(dst)
    if a is not None and b is not None and ((b <= a) if widen else (b >= a)):
        raise RustyError(f"after {pass_name}: '{op.name}' from {src} to {dst}; it must {'widen' if widen else 'narrow'} "
                         "(upstream MLIR refuses it)", op)  # fmt: skip


@dataclass(frozen=True)
class OptionDoc:
    name: str
    type: str
    default: str | None
    doc: str


def first_paragraph(text: str) -> str:
    """The lines of ``text`` up to its first blank line, joined by spaces: a summary that does not stop mid-sentence."""
    lines: list[str] = []
    for line in text.strip().splitlines():
        if not line.strip():
            break
        lines.append(line.strip())
    return " ".join(lines)


def pass_summary(cls: type) -> str:
    """The first paragraph of a pass's docstring ('' when it has none)."""
    doc = inspect.getdoc(cls)
    return first_paragraph(doc) if doc else ""


def option_docs(cls: type[ModulePass]) -> list[OptionDoc]:
    """Each option of a pass with its docstring: the string literal below its field."""
    docs = _field_docstrings(cls)
    out: list[OptionDoc] = []
    for f in dataclasses.fields(cls):
        if f.name == "name":
            continue
        default = None
        if f.default is not dataclasses.MISSING:
            default = str(f.default).lower() if isinstance(f.default, bool) else str(f.default)
        type_name = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        out.append(OptionDoc(f.name.replace("_", "-"), type_name, default, docs.get(f.name, "")))
    return out


def _field_docstrings(cls: type) -> dict[str, str]:
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or klass.__module__.startswith("xdsl.passes"):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, nxt in zip(body, body[1:]):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = inspect.cleandoc(nxt.value.value)
    return docs
