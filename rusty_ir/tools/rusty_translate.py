"""rusty-translate: turn gpu-level IR into target text (the habits of mlir-translate).

rusty-translate --to-wgsl [FILE|-]      WGSL kernels of every gpu.module
rusty-translate --to-msl [FILE|-]       Metal Shading Language kernels, checked against the apple target's limits
rusty-translate --to-schedule [FILE|-]  the host schedule as JSON (backends/runtime/schedule.py)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rusty_ir.errors import Diagnostic, RustyError
from rusty_ir.ir import SourceMap, op_error, parse_module
from rusty_ir.pipeline import require_gpu_level
from rusty_ir.registry import build_registry
from rusty_ir.tools.common import (
    DEFAULT_SPLIT_MARKER,
    ToolArgumentParser,
    optional_value_flags,
    read_input,
    run_tool,
    split_input,
    terminal_safe,
    write_output,
)


def _to_wgsl(module) -> str:  # a builtin.module
    from rusty_ir.backends.wgsl import emit_wgsl

    require_gpu_level(module)
    return emit_wgsl(module)


def _to_schedule(module) -> str:  # a builtin.module
    from rusty_ir.backends.schedule import emit_schedule

    require_gpu_level(module)
    return emit_schedule(module)


def _to_msl(module) -> str:  # a builtin.module
    from rusty_ir.backends.msl import emit_msl
    from rusty_ir.targets import TARGETS as TUNING_TARGETS

    require_gpu_level(module)
    return emit_msl(module, TUNING_TARGETS["apple"])


TARGETS = {"wgsl": _to_wgsl, "msl": _to_msl, "schedule": _to_schedule}
TARGET_HELP = {
    "wgsl": "print the kernels of gpu.module as WGSL (WebGPU), each with a banner naming its gpu.func",
    "msl": "print the kernels as Metal Shading Language, checked against the apple target's limits",
    "schedule": "print the host functions as the runtime's schedule (JSON: buffers, kernels, launches per entry)",
}


def make_parser() -> argparse.ArgumentParser:
    p = ToolArgumentParser(prog="rusty-translate", description="Translate gpu-level IR into kernels or a schedule.")
    p.add_argument("input", nargs="?", default="-", help="input file ('-' or nothing: stdin)")
    group = p.add_mutually_exclusive_group(required=True)
    for target in TARGETS:
        group.add_argument(f"--to-{target}", dest="target", action="store_const", const=target, help=TARGET_HELP[target])
    p.add_argument("-o", "--output", default="-", help="output file (written only if everything succeeds)")
    p.add_argument("--split-input-file", dest="split_marker", nargs="?", const=DEFAULT_SPLIT_MARKER, default=None,
                   metavar="MARKER", help="translate each chunk between '// -----' lines (or lines of =MARKER) on its own, "
                                          "all of them even when some fail (exit 1 then)")  # fmt: skip
    p.add_argument(
        "--output-split-marker",
        default=DEFAULT_SPLIT_MARKER,
        metavar="MARKER",
        help="the line printed between the outputs of the chunks (default '// -----')",
    )
    p.add_argument("--allow-unregistered-dialect", action="store_true", help="accept ops of unknown dialects")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return run_tool("rusty-translate", lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = make_parser().parse_args(optional_value_flags(raw, {"--split-input-file": DEFAULT_SPLIT_MARKER}))
    ctx = build_registry().context()
    ctx.allow_unregistered = args.allow_unregistered_dialect
    name, text = read_input(args.input)
    to_stdout = args.output in (None, "-")
    outputs: list[str] = []
    failed = False
    for i, chunk in enumerate(split_input(text, args.split_marker)):  # every chunk, as rusty-opt does
        source = SourceMap(name, chunk.text, chunk.line_offset)
        out = ""
        try:
            module = parse_module(ctx, source)
            try:
                out = TARGETS[args.target](module)
            except RustyError as err:
                raise op_error(err, source, root=module) from None
        except Diagnostic as diag:
            print(terminal_safe(str(diag)), file=sys.stderr)
            failed = True
        piece = (args.output_split_marker + "\n" if i else "") + out
        outputs.append(piece)
        if to_stdout:
            write_output("-", piece)
    if not failed and not to_stdout:
        write_output(args.output, "".join(outputs))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
