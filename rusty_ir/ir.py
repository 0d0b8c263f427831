"""IR utilities for the tools: parsing with source locations, verifying, printing.

xDSL ops carry no source location, so ``parse_module`` records where each op
starts in the text; ``Diagnostic`` errors then say ``file:line:col`` like
mlir-opt does, and ``--verify-diagnostics`` can match them to annotations.
"""

from __future__ import annotations

import bisect
import io
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, cast

from xdsl.context import Context
from xdsl.dialects import arith, memref, scf, tensor
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    FileLineColLoc,
    IntAttr,
    IntegerAttr,
    LocationAttr,
    MemRefType,
    ModuleOp,
    StringAttr,
    TensorType,
    UnknownLoc,
)
from xdsl.ir import Block, BlockArgument, Operation, Region, SSAValue
from xdsl.irdl.dominance import DominanceInfo
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import IsolatedFromAbove
from xdsl.utils.exceptions import DiagnosticException, ParseError, VerifyException
from xdsl.utils.mlir_lexer import MLIRLexer, MLIRTokenKind

from rusty_ir.errors import Diagnostic, RustyError, describe_op

# xDSL's string-literal pattern nests quantifiers, '"(?:[^"\\...]+|\\...)*"', so an unterminated string of
# a few dozen characters backtracks exponentially (rusty-opt hung on `x"({{.*}}) <{kernel = @k::@g,`).
# The same language with possessive quantifiers (Python 3.11+) never backtracks.
MLIRLexer._unescaped_characters_regex = re.compile(r'"(?:[^"\\\n\v\f]++|\\(?:["nt\\]|[0-9A-Fa-f]{2}))*+"')


TOO_DEEP = "the IR is nested too deeply (past Python's recursion limit)"

_GRAPH_REGION_OPS = ("builtin.module", "gpu.module")
"""Ops whose regions are graph regions (MLIR's RegionKind::Graph): no order among their ops."""


@dataclass
class SourceMap:
    """Where each parsed op starts: name of the input, its text, and op -> offset."""

    name: str
    text: str
    line_offset: int = 0
    """Lines before this chunk in the original file (for --split-input-file)."""

    def __post_init__(self) -> None:
        self._offsets: dict[int, int] = {}
        self._ops: list[Operation] = []  # keeps ids valid while the map lives
        self._lines: list[str] | None = None
        self._newlines: tuple[str, list[int]] | None = None  # the text they were found in, and its '\n' offsets

    def record(self, op: Operation, offset: int) -> None:
        self._offsets[id(op)] = offset
        self._ops.append(op)

    def line_col(self, offset: int) -> tuple[int, int]:
        text = self.text
        if not 0 <= offset <= len(text):  # str.count's and str.rfind's reading of such offsets
            line = text.count("\n", 0, offset) + 1 + self.line_offset
            return line, offset - (text.rfind("\n", 0, offset) + 1) + 1
        if self._newlines is None or self._newlines[0] is not text:  # once per text: the parser asks for every op
            self._newlines = (text, [m.start() for m in re.finditer("\n", text)])
        newlines = self._newlines[1]
        before = bisect.bisect_left(newlines, offset)  # the newlines in text[:offset]
        return before + 1 + self.line_offset, offset - (newlines[before - 1] + 1 if before else 0) + 1

    def locate(self, op: Operation | None) -> tuple[int, int] | None:
        """Line and column of ``op``: where it was parsed, else its location in this input (an op a pass built
        has the location of the op it rewrote or was built in), else its closest parsed ancestor's."""
        while op is not None:
            offset = self._offsets.get(id(op))
            if offset is not None:
                return self.line_col(offset)
            loc = op.location
            if isinstance(loc, FileLineColLoc) and loc.filename.data == self.name and loc.column.data > 0:  # col 0: a file
                return loc.line.data, loc.column.data
            op = op.parent_op()
        return None

    def line_text(self, line: int) -> str | None:
        """The text of line ``line`` (numbered in the whole file, as ``line_col`` gives it)."""
        index = line - 1 - self.line_offset
        if self._lines is None:
            self._lines = self.text.split("\n")
        return self._lines[index] if 0 <= index < len(self._lines) else None

    def diagnostic(
        self, message: str, line: int | None = None, col: int | None = None, severity: str = "error", notes: list[Diagnostic] | None = None
    ) -> Diagnostic:
        """A diagnostic at ``line``:``col`` of this input, with that line as its snippet."""
        snippet = self.line_text(line) if line is not None else None
        return Diagnostic(message, self.name, line, col, severity, snippet, notes or [])

    def at_offset(self, offset: int, message: str, severity: str = "error") -> Diagnostic:
        return self.diagnostic(message, *self.line_col(offset), severity=severity)


_LOC_ALIAS = re.compile(r"^(#[A-Za-z_][\w.$-]*)[ \t]*=[ \t]*(loc\(.*)$", re.M)
"""A location alias definition, one a line, as mlir-opt prints them after the module (``#loc1 = loc("f":2:5)``)."""


_RESULTS = re.compile(r"%[\w$.#-]+(?::\d+)?(?:\s*,\s*%[\w$.#-]+(?::\d+)?)*\s*=\s*")
"""The results of an op as written (``%0, %1:2 = ``): its location is the name after them."""


class _LocatingParser(Parser):
    """An xDSL parser that records the start offset of every op it parses, and gives an op written without a
    location the one mlir-opt gives it: ``loc("file":line:col)`` of where it starts. Location aliases may be
    defined after their uses (mlir-opt prints them at the end): they are read first."""

    def __init__(self, ctx: Context, source: SourceMap) -> None:
        text = source.text
        aliases = list(_LOC_ALIAS.finditer(text)) if "loc(" in text else []
        for m in reversed(aliases):  # blanked in place: every other offset stays the source's
            text = text[: m.start()] + " " * (m.end() - m.start()) + text[m.end() :]
        super().__init__(ctx, text, source.name)
        self.source = source
        self._arg_loc: tuple[FileLineColLoc, int] | None = None
        for m in aliases:
            try:
                value = Parser(ctx, m.group(2), source.name)
                value.attribute_aliases.update(self.attribute_aliases)
                self.attribute_aliases[m.group(1)] = value.parse_attribute()
            except ParseError as err:
                raise source.at_offset(m.start(2) + err.span.start, err.msg) from None

    def parse_optional_argument(self, expect_type: bool = True) -> Any:
        arg = super().parse_optional_argument(expect_type)
        if isinstance(arg, Parser.Argument):  # a function argument's location is where its name is, as in mlir-opt;
            line, col = self.source.line_col(arg.name.start)  # xDSL asks for it next (parse_optional_location)
            self._arg_loc = (FileLineColLoc(StringAttr(self.source.name), IntAttr(line), IntAttr(col)), self.pos)
        return arg

    def parse_optional_location(self) -> Any:
        loc = super().parse_optional_location()
        pending, self._arg_loc = self._arg_loc, None
        if loc is None and pending is not None:
            between = self.source.text[pending[1] : self.pos].strip()  # only the argument's attribute dictionary
            if not between or (between.startswith("{") and between.endswith("}")):
                return pending[0]
        return loc

    def parse_optional_operation(self) -> Operation | None:
        start = self._current_token.span.start
        self.last_op_start = start
        op = super().parse_optional_operation()
        if op is not None:
            self.source.record(op, start)
            if isinstance(op.location, UnknownLoc):  # at the op's name, after its results, as mlir-opt
                results = _RESULTS.match(self.source.text, start)
                line, col = self.source.line_col(results.end() if results else start)
                op.location = FileLineColLoc(StringAttr(self.source.name), IntAttr(line), IntAttr(col))
        return op


def parse_keyword_fields(parser: AttrParser, what: str, known: Collection[str], parse_value: Callable[[str], Any]) -> dict[str, Any]:
    """The ``, key = value`` pairs that follow an attribute's leading parameter, up to its closing bracket:
    ``parse_value(key)`` reads each value; an unknown or repeated key is a located parse error naming
    ``what`` (``unknown target field 'x' (fields: ...)``)."""
    values: dict[str, Any] = {}
    while parser.parse_optional_punctuation(","):
        pos = parser.pos
        key = parser.parse_identifier(f"expected a {what} field")
        if key not in known:
            parser.raise_error(f"unknown {what} field '{key}' (fields: {', '.join(known)})", pos, parser.pos)
        if key in values:
            parser.raise_error(f"{what} field '{key}' given twice", pos, parser.pos)
        parser.parse_punctuation("=")
        values[key] = parse_value(key)
    return values


def parse_module(ctx: Context, source: SourceMap) -> ModuleOp:
    """Parse and verify ``source``; every problem is a located ``Diagnostic`` (with the line and a caret)."""
    parser = None
    _fresh_resources()
    try:
        parser = _LocatingParser(ctx, source)  # lexes the first token: a ParseError too
        if parser._current_token.kind is MLIRTokenKind.EOF:  # nothing but comments: an empty module, as in MLIR
            return ModuleOp([])
        module = parser.parse_module()
        if isinstance(module.location, UnknownLoc):  # an implicit module: mlir-opt's location for it
            module.location = FileLineColLoc(StringAttr(source.name), IntAttr(source.line_offset), IntAttr(0))
        inherit_locations(module)  # block arguments: their op's location
    except ParseError as err:
        raise source.at_offset(err.span.start, err.msg) from None
    except RecursionError:  # deep nesting: say where the parser gave up
        offset = parser._current_token.span.start if parser else 0  # the parser's position
        raise source.at_offset(offset, TOO_DEEP) from None
    except Exception as err:  # an op or type rejected while being built from the text, however xDSL says it
        known = isinstance(err, DiagnosticException | ValueError | TypeError)
        raise source.at_offset(getattr(parser, "last_op_start", 0), _message(err) if known else _malformed(err)) from None
    verify(module, source)
    return module


def _fresh_resources() -> None:
    """Forget the ``dense_resource`` blobs of earlier inputs, as mlir-opt's fresh context per input does: xDSL keeps
    them in the (process-wide) builtin dialect and renames a handle seen before (``blob1`` -> ``blob1_0``), which
    left a second chunk naming ``blob1`` without its blob."""
    from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface
    from xdsl.dialects.builtin import Builtin

    interface = Builtin.get_interface(OpAsmDialectInterface)
    if interface is not None:
        interface._blob_storage.clear()  # no public reset in xDSL 0.74


def verify(module: ModuleOp, source: SourceMap | None = None, stage: str = "") -> None:
    """Verify every op (outermost first), then SSA dominance; the first failure becomes a ``Diagnostic``."""
    try:
        for op in module.walk():
            try:
                op.verify(verify_nested_ops=False)
                _verify_upstream(op)
            except (DiagnosticException, ValueError) as err:
                raise _op_diagnostic(op, _message(err), source, stage) from None
            except RecursionError:
                raise
            except Exception as err:  # an xDSL verifier tripping over a malformed op
                raise _op_diagnostic(op, _malformed(err), source, stage) from None
        _Dominance().check(module, source, stage)
    except RecursionError:
        raise Diagnostic(f"{stage + ': ' if stage else ''}{TOO_DEEP}", source.name if source else "<input>") from None


def _verify_upstream(op: Operation) -> None:
    """What MLIR's verifiers check and xDSL's do not (the passes and emitters rely on it): a ``tensor.empty`` has
    one size operand per dynamic dimension; a ``tensor.dim``/``memref.dim`` of a constant index names a
    dimension the value has; an ``scf.yield`` yields what its ``scf.if``, ``scf.for`` or
    ``scf.execute_region`` returns (xDSL inserts an empty yield where one is missing)."""
    if isinstance(op, tensor.EmptyOp):
        shape = op.tensor.type.get_shape()
        dynamic = sum(d == DYNAMIC_INDEX for d in shape)
        if len(op.dynamic_sizes) != dynamic:
            raise VerifyException(f"incorrect number of dynamic sizes, has {len(op.dynamic_sizes)}, expected {dynamic}")
    if isinstance(op, tensor.DimOp | memref.DimOp) and isinstance(op.index.owner, arith.ConstantOp):
        rank = len(op.source.type.get_shape()) if isinstance(op.source.type, TensorType | MemRefType) else None
        index = op.index.owner.value
        if rank is not None and isinstance(index, IntegerAttr) and not 0 <= index.value.data < rank:
            raise VerifyException(f"index {index.value.data} is out of range for a value of rank {rank}")
    parent = op.parent_op()
    if isinstance(op, scf.YieldOp) and isinstance(parent, scf.IfOp | scf.ForOp | scf.ExecuteRegionOp):
        got, want = [v.type for v in op.operands], [r.type for r in parent.results]
        if got != want:
            raise VerifyException(f"yields {len(got)} values ({', '.join(map(str, got))}) where '{parent.name}' returns "
                                  f"{len(want)} ({', '.join(map(str, want))})")  # fmt: skip


class _Dominance:
    """SSA dominance (xDSL's verifiers do not check it): every operand is defined by an op before its user in
    the same block, or in a block that dominates the user's, of the user's region or one that encloses it
    (not past an op that is isolated from above); a block argument belongs to such a block."""

    def __init__(self) -> None:
        self._index: dict[int, dict[int, int]] = {}  # id(block) -> id(op) -> position
        self._blocks: dict[int, DominanceInfo] = {}  # id(region) -> block dominance

    def check(self, module: ModuleOp, source: SourceMap | None, stage: str) -> None:
        for op in module.walk():
            for i, operand in enumerate(op.operands):
                if not self._dominates(operand, op):
                    what = (
                        "a block argument"
                        if isinstance(operand, BlockArgument)
                        else f"the result of '{cast(Operation, operand.owner).name}'"
                    )
                    err = _op_diagnostic(op, f"operand #{i} ({what}) is used before it is defined, or outside its scope",
                                         source, stage)  # fmt: skip
                    definer = operand.owner if isinstance(operand.owner, Operation) else operand.owner.parent_op()
                    if definer is not None and source is not None and source.locate(definer) is not None:
                        err.notes.append(_op_diagnostic(definer, "", source, "", severity="note",
                                                        text=f"operand #{i} is defined here"))  # fmt: skip
                    raise err

    def _dominates(self, value: SSAValue, user: Operation) -> bool:
        def_op = None if isinstance(value, BlockArgument) else cast(Operation, value.owner)
        def_block = value.block if isinstance(value, BlockArgument) else cast(Operation, def_op).parent_block()
        if def_block is None or def_block.parent is None:
            return False
        region: Region = def_block.parent
        if user.parent is def_block:  # the common case, decided as the walk below decides it on its first step
            if def_op is None or (region.parent is not None and region.parent.name in _GRAPH_REGION_OPS):
                return True
            return self._position(def_block, def_op) < self._position(def_block, user)
        ancestor = user
        while (block := ancestor.parent_block()) is not None:
            if block.parent is region:
                graph = region.parent is not None and region.parent.name in _GRAPH_REGION_OPS
                if block is not def_block:
                    return graph or self._block_dominance(region).dominates(def_block, block)
                return def_op is None or graph or self._position(block, def_op) < self._position(block, ancestor)
            parent = block.parent_op()
            if parent is None or parent.has_trait(IsolatedFromAbove):
                return False
            ancestor = parent
        return False

    def _position(self, block: Block, op: Operation) -> int:
        index = self._index.get(id(block))
        if index is None:
            index = self._index[id(block)] = {id(o): i for i, o in enumerate(block.ops)}
        return index[id(op)]

    def _block_dominance(self, region: Region) -> DominanceInfo:
        info = self._blocks.get(id(region))
        if info is None:
            info = self._blocks[id(region)] = DominanceInfo(region)
        return info


def op_error(err: RustyError, source: SourceMap | None, stage: str = "", root: Operation | None = None) -> Diagnostic:
    """A RustyError raised by a pass, located at its ``op`` when it names one (else at ``root``, the op the pass
    ran on, as MLIR locates a pass's errors about its root op; an implicit module has no location), with its notes."""
    op = getattr(err, "op", None) or root
    if op is None or (op is root and source is not None and source.locate(op) is None):
        diag = Diagnostic(str(err), source.name if source else "<input>")
    else:
        diag = _op_diagnostic(op, str(err), source, stage)
    for message, note_op in getattr(err, "notes", ()):
        diag.notes.append(located(note_op, message, source, "note"))
    return diag


def located(op: Operation | None, message: str, source: SourceMap | None, severity: str = "error") -> Diagnostic:
    """A diagnostic of ``severity`` at ``op``'s source line (or unlocated when ``op`` is None), as passes emit them."""
    if op is None:
        return Diagnostic(message, source.name if source else "<input>", severity=severity)
    return _op_diagnostic(op, "", source, "", severity=severity, text=message)


def _op_diagnostic(
    op: Operation, message: str, source: SourceMap | None, stage: str, severity: str = "error", text: str | None = None
) -> Diagnostic:
    """``'op.name' op <message>`` at the op (``text``: the whole message, as given)."""
    loc = source.locate(op) if source else None
    prefix = f"after {stage}: " if stage else ""
    name = source.name if source else "<input>"
    if loc is None:
        return Diagnostic(f"{prefix}{describe_op(op)}: {text if text is not None else message}", name, severity=severity)
    body = text if text is not None else f"'{op_name(op)}' op {message}"
    assert source is not None
    return source.diagnostic(f"{prefix}{body}", *loc, severity=severity)


def op_name(op: Operation) -> str:
    """The op's name as written, also for an unregistered op (which xDSL names 'builtin.unregistered')."""
    written = getattr(op, "op_name", None)
    return written.data if isinstance(written, StringAttr) else op.name


def _message(err: Exception) -> str:
    """A verifier's message on one line (xDSL puts the annotated IR in ``__notes__``)."""
    text = " ".join(line.strip() for line in str(err).replace("Operation does not verify: ", "").splitlines())
    return text or type(err).__name__


def _malformed(err: Exception) -> str:
    """The message for an exception xDSL raised on malformed IR without a message of its own."""
    text = _message(err)
    return f"malformed op ({text if text == type(err).__name__ else f'{type(err).__name__}: {text}'})"


def print_module(module: Operation, generic: bool = False, debuginfo: bool = False) -> str:
    """``module`` as text, in the generic form if ``generic``; with ``debuginfo``, each op's and block argument's
    location (``loc(...)``, mlir-opt's ``--mlir-print-debuginfo``). The blobs its ``dense_resource<...>``
    attributes name follow in a ``{-# dialect_resources: ... #-}`` section, as mlir-opt prints them."""
    from xdsl.dialects.builtin import Builtin

    out = io.StringIO()
    printer = Printer(stream=out, print_generic_format=generic, print_debuginfo=debuginfo)
    printer.print_op(module)
    printer.print_metadata([Builtin])  # the resources of the handles printed (builtin's blobs: dense_resource)
    return out.getvalue() + "\n"


def inherit_locations(module: Operation) -> None:
    """Give each op without a location (one a pass built) its closest located enclosing op's: mlir-opt's builders
    take the location of the op they rewrite; xDSL's take none (``keep_locations_in_rewrites`` does it for
    patterns). A module whose ops carry no location (built in Python, not parsed) is left as it is."""
    tops = module.body.block.ops if isinstance(module, ModuleOp) else ()
    if all(isinstance(op.location, UnknownLoc) for op in tops):
        return
    _inherit(module, [])


def _inherit(op: Operation, stack: list[LocationAttr]) -> None:
    if isinstance(op.location, UnknownLoc) and stack:
        op.location = stack[-1]
    stack.append(op.location)
    for region in op.regions:
        for block in region.blocks:
            for arg in block.args:
                if isinstance(arg.location, UnknownLoc):
                    arg.location = op.location
            for inner in block.ops:
                _inherit(inner, stack)
    stack.pop()


_rewrites_patched = False


def keep_locations_in_rewrites() -> None:
    """Ops a pattern inserts without a location get the matched op's (idempotent; xDSL's rewriter gives none)."""
    global _rewrites_patched
    if _rewrites_patched:
        return
    from xdsl.pattern_rewriter import PatternRewriter

    plain = PatternRewriter.handle_operation_insertion

    def handle_operation_insertion(self: PatternRewriter, op: Operation) -> None:
        matched = self._current_operation
        if matched is not None and not isinstance(matched.location, UnknownLoc):
            for inner in op.walk():
                if isinstance(inner.location, UnknownLoc):
                    inner.location = matched.location
        plain(self, op)

    PatternRewriter.handle_operation_insertion = handle_operation_insertion  # type: ignore[method-assign, assignment]  # no hook
    _rewrites_patched = True
