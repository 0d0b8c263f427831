"""rusty-opt: parse IR, run a pass pipeline, print the result (the habits and flag names of mlir-opt).

    rusty-opt [FILE|-] --pass-pipeline='builtin.module(canonicalize,cse)'
    rusty-opt [FILE|-] -p canonicalize,cse
    rusty-opt FILE --split-input-file --verify-diagnostics
    rusty-opt --list-passes

``--split-input-file`` processes every ``// -----`` chunk, even after one fails:
the outputs of the chunks that succeed are printed separated by ``// -----``
lines (a failed chunk's output is empty), diagnostics go to stderr, and the exit
status is 1 if any chunk failed. ``--verify-diagnostics`` checks the diagnostics
against ``expected-*`` annotations (``rusty_ir.tools.verify_diagnostics``) and
exits 1 only if they differ. Diagnostics print as ``file:line:col: error: ...``
with the source line and a caret. The pre-mlir spellings (``--print-op-generic``,
``--print-ir-after-all``, ``--time-passes``, ``--print-debuginfo``) are kept as aliases. docs/tools.md
describes every flag.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.exceptions import DiagnosticException

from rusty_ir.diagnostics import diagnostic_handler
from rusty_ir.errors import Diagnostic, RustyError
from rusty_ir.ir import SourceMap, located, op_error, parse_module, print_module, verify
from rusty_ir.pipeline import build_pipeline, first_paragraph, nested_target, option_docs, pass_summary
from rusty_ir.registry import Registry, build_registry
from rusty_ir.tools.common import (
    DEFAULT_SPLIT_MARKER,
    Chunk,
    ToolArgumentParser,
    optional_value_flags,
    read_input,
    run_tool,
    split_input,
    terminal_safe,
    write_output,
)
from rusty_ir.tools.verify_diagnostics import LEVELS, check, parse_expectations

TOOL = "rusty-opt"


def make_parser() -> argparse.ArgumentParser:
    p = ToolArgumentParser(prog=TOOL, description="Run rusty-ir passes over MLIR-style IR (flags as mlir-opt spells them).")
    p.add_argument("input", nargs="?", default="-", help="input file ('-' or nothing: stdin)")
    p.add_argument("-o", "--output", default="-", help="output file (written only if everything succeeds)")
    p.add_argument("--pass-pipeline", default="", help="MLIR syntax: 'builtin.module(a,b{opt=v})'")
    p.add_argument("-p", "--passes", default="", help="short form: 'a,b{opt=v}'")
    p.add_argument("--split-input-file", dest="split_marker", nargs="?", const=DEFAULT_SPLIT_MARKER, default=None,
                   metavar="MARKER", help="process each chunk between '// -----' lines (or lines of =MARKER) on its own, "
                                          "all of them even when some fail")  # fmt: skip
    p.add_argument(
        "--output-split-marker",
        default=DEFAULT_SPLIT_MARKER,
        metavar="MARKER",
        help="the line printed between the outputs of the chunks (default '// -----')",
    )
    p.add_argument("--verify-diagnostics", nargs="?", const="all", default=None, choices=LEVELS, metavar="LEVEL",
                   help="check the diagnostics against expected-error/-warning/-remark/-note annotations instead of "
                        "printing them; =only-expected lets unexpected ones through")  # fmt: skip
    p.add_argument(
        "--mlir-print-op-generic", "--print-op-generic", dest="generic", action="store_true", help="print ops in the generic form"
    )
    p.add_argument("--verify-each-numerically", nargs="?", const="", default=None, metavar="FUNC",
                   help="interpret @FUNC (default: the first function) on random inputs before and after each pass "
                        "while an interpreter runs the level (tfm, tensor, dispatch, bufferized) and fail at the first "
                        "pass that changes its result; weights are made up from their types")  # fmt: skip
    p.add_argument("--mlir-print-debuginfo", "--print-debuginfo", dest="debuginfo", action="store_true",
                   help="print each op's location, loc(...): where it was written (or the loc given in the input), and "
                        "for an op a pass built, the op it rewrote or the one it was built in")  # fmt: skip
    p.add_argument(
        "--mlir-print-ir-before",
        dest="print_before",
        action="append",
        default=[],
        metavar="PASS[,PASS]",
        help="print the IR to stderr before each run of these passes",
    )
    p.add_argument(
        "--mlir-print-ir-after",
        dest="print_after",
        action="append",
        default=[],
        metavar="PASS[,PASS]",
        help="print the IR to stderr after each run of these passes",
    )
    p.add_argument(
        "--mlir-print-ir-before-all", dest="print_before_all", action="store_true", help="print the IR to stderr before every pass"
    )
    p.add_argument(
        "--mlir-print-ir-after-all",
        "--print-ir-after-all",
        dest="print_after_all",
        action="store_true",
        help="print the IR to stderr after every pass",
    )
    p.add_argument(
        "--mlir-timing",
        "--time-passes",
        dest="timing",
        action="store_true",
        help="report the wall time of parsing, each pass, verification and printing on stderr",
    )
    p.add_argument(
        "--mlir-pass-statistics",
        dest="statistics",
        action="store_true",
        help="report each pass's statistics on stderr (the ops in the module before and after it)",
    )
    p.add_argument("--allow-unregistered-dialect", action="store_true", help="accept ops of unknown dialects")
    p.add_argument("--list-passes", action="store_true", help="list every pass with its summary and options")
    p.add_argument("--list-dialects", action="store_true",
                   help="the Python classes of rusty-ir's and the plugins' dialects: ops with their fields, attributes and types "
                        "(Markdown; docs/plugins.md has rusty-ir's)")  # fmt: skip
    p.add_argument("--load-pass-plugin", action="append", default=[], metavar="FILE.py", help="load passes from a file")
    p.add_argument("--load-dialect-plugin", action="append", default=[], metavar="FILE.py", help="load dialects from a file")
    return p


_OPTIONAL_VALUES = {"--split-input-file": DEFAULT_SPLIT_MARKER, "--verify-diagnostics": "all", "--verify-each-numerically": ""}
"""Flags that take a value only as ``--flag=value`` (mlir-opt's ValueOptional): a bare flag never eats the input file."""


def list_passes(registry: Registry) -> str:
    lines: list[str] = []
    for name in sorted(registry.passes):
        cls = registry.pass_class(name)
        origin = registry.pass_origin[name]
        lines.append(f"{name}" + ("" if origin == "rusty-ir" else f"  [{origin}]"))
        lines.append(f"    {pass_summary(cls) or '(no documentation)'}")
        for opt in option_docs(cls):
            default = f" = {opt.default}" if opt.default is not None else " (required)"
            lines.append(f"      {opt.name}: {opt.type}{default}")
            if opt.doc:
                lines.append(f"          {first_paragraph(opt.doc)}")
    return "\n".join(lines) + "\n"


def _fields(cls: type) -> str:
    """An op's or attribute's Python fields, by kind: ``operands: a, b?, c*; results: r; properties: p; regions: body``
    (``?`` optional, ``*`` variadic)."""
    import typing

    from xdsl.irdl import OptOperandDef, OptPropertyDef, OptResultDef, VarOperandDef, VarResultDef
    from xdsl.irdl.operations import OptAttributeDef

    if not hasattr(cls, "get_irdl_definition"):  # a Data attribute: what its .data holds
        held = [a for b in getattr(cls, "__orig_bases__", ()) for a in typing.get_args(b) if isinstance(a, type)]
        return f"data: `{held[0].__module__}.{held[0].__qualname__}`" if held else "data"
    irdl = cls.get_irdl_definition()
    if not hasattr(irdl, "operands"):  # a parametrized attribute or type: its parameters
        return f"parameters: {', '.join(name for name, _ in irdl.parameters) or '-'}"

    def mark(name: str, d: object) -> str:
        optional = (OptOperandDef, OptResultDef, OptPropertyDef, OptAttributeDef)
        return name + ("?" if isinstance(d, optional) else "*" if isinstance(d, VarOperandDef | VarResultDef) else "")

    segments = ("operandSegmentSizes", "resultSegmentSizes")  # set by the builders, not by hand
    kinds = (("operands", irdl.operands), ("results", irdl.results), ("properties", [p for p in irdl.properties.items() if p[0] not in segments]),
             ("attributes", list(irdl.attributes.items())), ("regions", irdl.regions))  # fmt: skip
    return "; ".join(f"{kind}: {', '.join(mark(n, d) for n, d in defs)}" for kind, defs in kinds if defs) or "-"


def dialect_reference(registry: Registry, origins: tuple[str, ...] | None = None) -> str:
    """Markdown: for each dialect not from upstream xDSL (or only those of ``origins``), its Python module and a
    table of its ops, then of its attributes and types, with each class's fields and docstring summary."""
    import inspect

    out: list[str] = []
    for name in sorted(registry.dialects):
        origin = registry.dialect_origin.get(name, "xdsl")
        if origin == "xdsl" or (origins is not None and origin not in origins):
            continue
        dialect = registry.dialects[name]()
        classes = [*dialect.operations, *dialect.attributes]
        modules = sorted({c.__module__.rsplit(".", 1)[0] if c.__module__.endswith((".ops", ".attrs")) else c.__module__ for c in classes})
        out += [f"### `{name}`" + ("" if origin == "rusty-ir" else f" ({origin})"), "",
                f"`from {modules[0] if len(modules) == 1 else ' / '.join(modules)} import ...`", ""]  # fmt: skip
        groups: tuple[tuple[str, list[Any]], ...] = (("op", list(dialect.operations)), ("attribute or type", list(dialect.attributes)))
        for title, items in groups:
            if not items:
                continue
            out += [f"| {title} | class | fields | summary |", "|---|---|---|---|"]
            for cls in sorted(items, key=lambda c: c.name):
                summary = first_paragraph(inspect.getdoc(cls) or "").replace("|", "\\|")
                out.append(f"| `{cls.name}` | `{cls.__name__}` | {_fields(cls)} | {summary} |")
            out.append("")
    return "\n".join(out)


# --- timing and statistics -----------------------------------------------------------------------


@dataclass
class _Report:
    """Wall times (``--mlir-timing``) and op counts (``--mlir-pass-statistics``) summed over the chunks."""

    times: dict[str, float] = field(default_factory=dict)
    passes: list[list[Any]] = field(default_factory=list)
    """Per pipeline position: [name, seconds, runs, ops before, ops after]."""

    def add(self, name: str, seconds: float) -> None:
        self.times[name] = self.times.get(name, 0.0) + seconds

    def add_pass(self, index: int, name: str, seconds: float, ops_before: int, ops_after: int) -> None:
        while len(self.passes) <= index:
            self.passes.append([name, 0.0, 0, 0, 0])
        entry = self.passes[index]
        entry[1] += seconds
        entry[2] += 1
        entry[3] += ops_before
        entry[4] += ops_after

    def timing_text(self, total: float) -> str:
        rule = "===" + "-" * 73 + "==="
        rows = [("Parser", self.times.get("Parser", 0.0))]
        rows += [(name, seconds) for name, seconds, *_ in self.passes]
        rows += [(k, self.times[k]) for k in ("Verifier", "Output") if k in self.times]
        lines = [rule, " " * 25 + "... Execution time report ...", rule, f"  Total Execution Time: {total:.4f} seconds", "",
                 "  ----Wall Time----  ----Name----"]  # fmt: skip
        for name, seconds in rows + [("Total", total)]:
            share = 100.0 * seconds / total if total > 0 else 0.0
            lines.append(f"  {seconds:8.4f} ({share:5.1f}%)  {name}")
        return "\n".join(lines) + "\n"

    def statistics_text(self) -> str:
        rule = "===" + "-" * 73 + "==="
        lines = [rule, " " * 25 + "... Pass statistics report ...", rule]
        for name, _seconds, runs, before, after in self.passes:
            lines.append(name)
            lines.append(f"  (S) {runs} runs - Times the pass ran (once per input chunk)")
            lines.append(f"  (S) {before} ops-before - Operations in the module before the pass")
            lines.append(f"  (S) {after} ops-after - Operations in the module after the pass")
        return "\n".join(lines) + "\n"


def _count_ops(module: Operation) -> int:
    return sum(1 for _ in module.walk())


# --- one invocation ---------------------------------------------------------------------------------


@dataclass
class _Run:
    """One invocation's settings, shared by every chunk."""

    registry: Registry
    ctx: Context
    pipeline_spec: str
    args: argparse.Namespace
    print_before: set[str]
    print_after: set[str]
    report: _Report = field(default_factory=_Report)

    def pipeline(self, source: SourceMap, checker: Any = None) -> PassPipeline:
        """The pipeline for one chunk; ``checker``: a ``rusty_ir.numerics.NumericChecker`` run after each pass."""
        args = self.args
        state: dict[str, Any] = {"index": -1, "start": time.perf_counter(), "ops": 0}
        measure_ops = args.statistics

        def dump(when: str, p: ModulePass, module: ModuleOp) -> None:
            target = nested_target(module)  # a nested group's pass: the op it ran on, as mlir-opt names it
            sym = getattr(target, "sym_name", None) if target is not None else None
            on = f" ('{target.name}' operation{': @' + sym.data if sym is not None else ''})" if target is not None else ""
            print(f"// -----// IR Dump {when} {p.name}{on} //----- //", file=sys.stderr)
            print(print_module(module if target is None else target, args.generic, args.debuginfo), file=sys.stderr, end="")

        def between(prev: ModulePass | None, module: ModuleOp, nxt: ModulePass | None) -> None:
            if prev is not None:
                seconds = time.perf_counter() - state["start"]
                ops_after = _count_ops(module) if measure_ops else 0
                self.report.add_pass(state["index"], prev.name, seconds, state["ops"], ops_after)
                if args.print_after_all or prev.name in self.print_after:
                    dump("After", prev, module)
                started = time.perf_counter()
                if nested_target(module) is None:  # a nested group's module: the whole one is verified after it
                    verify(module, source, f"pass '{prev.name}'")  # the IR a pass hands on must verify, as in mlir-opt
                self.report.add("Verifier", time.perf_counter() - started)
            if nxt is not None:
                if args.print_before_all or nxt.name in self.print_before:
                    dump("Before", nxt, module)
                state["ops"] = _count_ops(module) if measure_ops else 0
                state["index"] += 1
            if checker is not None and nested_target(module) is None:  # a nested group's pass: checked after the group
                checker.callback(prev, module, nxt)
            state["start"] = time.perf_counter()

        return build_pipeline(self.registry, self.pipeline_spec, between)

    def process(self, name: str, chunk: Chunk, diags: list[Diagnostic], show: bool) -> str | None:
        """The chunk's output, or None if it failed; its diagnostics are added to ``diags`` (and printed if ``show``)."""
        source = SourceMap(name, chunk.text, chunk.line_offset)

        def report(diag: Diagnostic) -> None:
            diags.append(diag)
            if show:
                print(terminal_safe(str(diag)), file=sys.stderr)

        def from_pass(severity: str, message: str, op: Any, notes: list[tuple[str, Any]]) -> None:
            diag = located(op, message, source, severity)
            diag.notes += [located(note_op, text, source, "note") for text, note_op in notes]
            report(diag)

        try:
            started = time.perf_counter()
            try:
                module = parse_module(self.ctx, source)
            finally:
                self.report.add("Parser", time.perf_counter() - started)
            checker = None
            if self.args.verify_each_numerically is not None:
                from rusty_ir.numerics import NumericChecker  # the interpreters: loaded only for this flag

                checker = NumericChecker.for_module(module, self.args.verify_each_numerically)
            with diagnostic_handler(from_pass):
                try:
                    self.pipeline(source, checker).apply(self.ctx, module)
                except RustyError as err:
                    raise op_error(err, source, root=module) from None
                except DiagnosticException as err:
                    raise Diagnostic(str(err).strip().splitlines()[0], name) from None
            if checker is not None:
                print(f"{TOOL}: remark: {checker.report()}", file=sys.stderr)
            started = time.perf_counter()
            text = print_module(module, self.args.generic, self.args.debuginfo)
            self.report.add("Output", time.perf_counter() - started)
            return text
        except Diagnostic as diag:
            report(diag)
            return None


def _pass_names(flag: str, values: list[str], registry: Registry) -> set[str]:
    """The pass names given to a --mlir-print-ir-* flag (repeatable, comma separated); unknown names are an error."""
    names = {n.strip() for v in values for n in v.split(",") if n.strip()}
    for n in sorted(names):
        if n not in registry.passes:
            raise RustyError(f"{flag}: unknown pass '{n}' (rusty-opt --list-passes shows them all)")
    return names


def _names(passes: Sequence[ModulePass]) -> list[str]:
    """The names of ``passes``, those inside nested groups (``func.func(cse)``) included."""
    return [n for p in passes for n in (_names(p.passes) if hasattr(p, "anchor") else [p.name])]  # type: ignore[attr-defined]  # a NestedPass (built at run time) has .passes


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool(TOOL, lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = make_parser().parse_args(optional_value_flags(raw, _OPTIONAL_VALUES))
    registry = build_registry([*args.load_pass_plugin, *args.load_dialect_plugin])
    if args.list_passes:
        write_output("-", list_passes(registry))
        return 0
    if args.list_dialects:
        write_output("-", dialect_reference(registry))
        return 0
    if args.pass_pipeline and args.passes:
        raise RustyError("give either --pass-pipeline or -p, not both")
    if args.split_marker is not None and not args.split_marker.strip():
        raise RustyError("--split-input-file: the marker is empty")
    spec = args.pass_pipeline or args.passes  # op anchors kept: func.func(...) runs on each function (NestedPass)
    print_before = _pass_names("--mlir-print-ir-before", args.print_before, registry)
    print_after = _pass_names("--mlir-print-ir-after", args.print_after, registry)
    in_pipeline = set(_names(build_pipeline(registry, spec).passes))  # an unknown pass or bad option fails here
    for flag, names in (("--mlir-print-ir-before", print_before), ("--mlir-print-ir-after", print_after)):
        for n in sorted(names - in_pipeline):
            print(f"{TOOL}: warning: {flag}: pass '{n}' is not in the pipeline; nothing is printed for it", file=sys.stderr)
    ctx = registry.context()
    ctx.allow_unregistered = args.allow_unregistered_dialect
    run = _Run(registry, ctx, spec, args, print_before, print_after)

    started = time.perf_counter()
    name, text = read_input(args.input)
    verifying = args.verify_diagnostics is not None
    to_stdout = args.output in (None, "-")
    outputs: list[str] = []
    failed = False
    problems = 0
    for i, chunk in enumerate(split_input(text, args.split_marker)):
        diags: list[Diagnostic] = []
        out = run.process(name, chunk, diags, show=not verifying)
        failed |= out is None
        if verifying:
            expected, bad_annotations = parse_expectations(name, chunk.text, chunk.line_offset)
            found = bad_annotations + check(expected, diags, args.verify_diagnostics)
            for problem in found:
                print(terminal_safe(str(problem)), file=sys.stderr)
            problems += len(found)
        piece = (args.output_split_marker + "\n" if i else "") + (out or "")
        outputs.append(piece)
        if to_stdout:
            write_output("-", piece)
    ok = problems == 0 if verifying else not failed
    if ok and not to_stdout:
        write_output(args.output, "".join(outputs))
    total = time.perf_counter() - started
    if args.timing:
        print(run.report.timing_text(total), file=sys.stderr, end="")
    if args.statistics:
        print(run.report.statistics_text(), file=sys.stderr, end="")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
