"""rusty-opt: parse IR, run a pass pipeline, print the result (the habits of mlir-opt).

    rusty-opt [FILE|-] --pass-pipeline='builtin.module(canonicalize,cse)'
    rusty-opt [FILE|-] -p canonicalize,cse
    rusty-opt --list-passes

``--verify-diagnostics`` works like mlir-opt's: every ``// expected-error
{{text}}`` annotation (optionally ``@+N``/``@-N`` for a line below/above) must
be matched by an error at that line whose message contains ``text``, and every
error must be expected; the tool exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.exceptions import DiagnosticException

from rusty_ir.errors import RustyError
from rusty_ir.ir import Diagnostic, SourceMap, op_error, parse_module, print_module, verify
from rusty_ir.pipeline import build_pipeline, first_paragraph, mlir_to_xdsl_pipeline, option_docs, pass_summary
from rusty_ir.registry import Registry, build_registry
from rusty_ir.tools.common import Chunk, read_input, run_tool, split_input, write_output

_EXPECTED = re.compile(r"//\s*expected-(error|warning|remark|note)\s*(?:@([+-]\d+))?\s*\{\{(.*?)\}\}")


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rusty-opt", description="Run rusty-ir passes over MLIR-style IR.")
    p.add_argument("input", nargs="?", default="-", help="input file ('-' or nothing: stdin)")
    p.add_argument("-o", "--output", default="-", help="output file (written only if everything succeeds)")
    p.add_argument("--pass-pipeline", default="", help="MLIR syntax: 'builtin.module(a,b{opt=v})'")
    p.add_argument("-p", "--passes", default="", help="short form: 'a,b{opt=v}'")
    p.add_argument("--split-input-file", action="store_true", help="treat each '// -----' chunk as its own input")
    p.add_argument("--verify-diagnostics", action="store_true", help="check errors against expected-error annotations")
    p.add_argument("--print-op-generic", action="store_true", help="print ops in the generic form")
    p.add_argument(
        "--mlir-print-ir-after-all",
        "--print-ir-after-all",
        dest="print_after_all",
        action="store_true",
        help="print the IR to stderr after every pass",
    )
    p.add_argument("--time-passes", action="store_true", help="report each pass's time on stderr")
    p.add_argument("--allow-unregistered-dialect", action="store_true", help="accept ops of unknown dialects")
    p.add_argument("--list-passes", action="store_true", help="list every pass with its summary and options")
    p.add_argument("--load-pass-plugin", action="append", default=[], metavar="FILE.py", help="load passes from a file")
    p.add_argument("--load-dialect-plugin", action="append", default=[], metavar="FILE.py", help="load dialects from a file")
    return p


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


@dataclass
class _Run:
    """One invocation's settings, shared by every chunk."""

    registry: Registry
    ctx: Context
    pipeline_spec: str
    args: argparse.Namespace

    def pipeline(self, source: SourceMap) -> PassPipeline:
        last = [time.perf_counter()]

        def after_each_pass(prev: ModulePass | None, module: ModuleOp, _next: ModulePass | None) -> None:
            if prev is not None:
                if self.args.time_passes:
                    print(f"// {prev.name}: {time.perf_counter() - last[0]:.4f} s", file=sys.stderr)
                if self.args.print_after_all:
                    print(f"// -----// IR Dump After {prev.name} //----- //", file=sys.stderr)
                    print(print_module(module, self.args.print_op_generic), file=sys.stderr)
                # the IR a pass hands on must verify, as in mlir-opt
                verify(module, source, f"pass '{prev.name}'")
            last[0] = time.perf_counter()

        return build_pipeline(self.registry, self.pipeline_spec, after_each_pass)

    def process(self, name: str, chunk: Chunk) -> str:
        source = SourceMap(name, chunk.text, chunk.line_offset)
        module = parse_module(self.ctx, source)
        pipeline = self.pipeline(source)
        try:
            pipeline.apply(self.ctx, module)
        except RustyError as err:
            raise op_error(err, source) from None
        except DiagnosticException as err:
            raise Diagnostic(str(err).strip().splitlines()[0], name) from None
        return print_module(module, self.args.print_op_generic)


def _check_expectations(name: str, chunk: Chunk, emitted: Diagnostic | None) -> list[str]:
    """Compare a chunk's emitted error with its expected-error annotations."""
    problems: list[str] = []
    expected: list[tuple[int, str, str]] = []
    for i, line in enumerate(chunk.text.splitlines()):
        for m in _EXPECTED.finditer(line):
            lineno = chunk.line_offset + i + 1 + int(m.group(2) or 0)
            expected.append((lineno, m.group(1), m.group(3)))
    matched = False
    for lineno, kind, text in expected:
        ok = (
            emitted is not None
            and kind == "error"
            and text in emitted.message
            and (emitted.line is None or emitted.line == lineno)
        )
        if ok:
            matched = True
        else:
            problems.append(f"{name}:{lineno}: expected {kind} \"{text}\" was not produced")
    if emitted is not None and not matched:
        problems.append(f"unexpected {emitted}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool("rusty-opt", lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    args = make_parser().parse_args(argv)
    registry = build_registry([*args.load_pass_plugin, *args.load_dialect_plugin])
    if args.list_passes:
        write_output("-", list_passes(registry))
        return 0
    if args.pass_pipeline and args.passes:
        raise RustyError("give either --pass-pipeline or -p, not both")
    spec = mlir_to_xdsl_pipeline(args.pass_pipeline or args.passes)
    ctx = registry.context()
    ctx.allow_unregistered = args.allow_unregistered_dialect
    run = _Run(registry, ctx, spec, args)
    build_pipeline(registry, spec)  # an unknown pass or bad option fails before any input is read

    name, text = read_input(args.input)
    outputs: list[str] = []
    problems: list[str] = []
    for chunk in split_input(text, args.split_input_file):
        if not args.verify_diagnostics:
            outputs.append(run.process(name, chunk))
            continue
        emitted = None
        try:
            outputs.append(run.process(name, chunk))
        except Diagnostic as err:
            emitted = err
        problems += _check_expectations(name, chunk, emitted)
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        return 1
    write_output(args.output, "// -----\n".join(outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
