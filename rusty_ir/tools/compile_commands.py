"""``rusty import`` and ``rusty compile``: the subcommands that print a checkpoint as IR or lower it through the
compiler (``rusty_ir.tools.rusty`` holds the others and the parser)."""

from __future__ import annotations

import argparse
from typing import Any

from rusty_ir.errors import RustyError
from rusty_ir.outputs import check_output_file, check_output_folder
from rusty_ir.progress import Progress
from rusty_ir.stages import DEFAULT_STAGES
from rusty_ir.tools.common import write_output
from rusty_ir.tools.options import add_compile_options, compile_options


def load_model_arg(model_arg: str | None, progress: Progress) -> Any:
    """The checkpoint MODEL names (default: the bundled SmolLM2), loaded with progress."""
    from rusty_ir.api import load_checkpoint  # keep --help fast

    return load_checkpoint(model_arg, progress)


def _build(model: Any, progress: Progress, **entries: bool) -> Any:
    """The model's transformer-level module, with the optional ``entries`` of ``build_module``."""
    from rusty_ir.importers.to_ir import build_module

    done = progress.step("building transformer IR")
    module = build_module(model.config, model.weights, **entries)
    done()
    return module


def _cmd_import(args: argparse.Namespace) -> int:
    from rusty_ir.ir import print_module

    if args.output != "-":
        check_output_file(args.output)  # before any work
    progress = Progress(args.quiet)
    model = load_model_arg(args.model, progress)
    module = _build(model, progress, sampling_entries=args.sampling, verify_entry=args.speculate)
    write_output(args.output, print_module(module, generic=args.generic))
    return 0


def _cmd_compile(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rusty_ir.driver import ARTIFACT_FILES, MANIFEST_FILE, SCHEDULE_FILE, CompileOptions, check_pipeline, compile_module
    from rusty_ir.ir import print_module

    if args.output is None and args.dump_after is None:
        raise RustyError("nothing to write: give -o DIR for the compiled model (or --dump-after STAGE to print the IR)")
    if args.output is not None:
        check_output_folder(Path(args.output), ARTIFACT_FILES)  # before any work
    options = CompileOptions.for_target(args.target, **compile_options(args))
    stages = [name for name, _ in options.stages]
    if args.dump_after is not None and args.dump_after not in stages:
        raise RustyError(f"--dump-after: unknown stage '{args.dump_after}' (stages: {', '.join(stages)})")
    registry = check_pipeline(options)  # an unknown pass or option (a plugin's too), before the model is loaded
    progress = Progress(args.quiet)
    model = load_model_arg(args.model, progress)
    module = _build(model, progress, sampling_entries=args.sampling, verify_entry=args.speculate)
    done = progress.step(f"compiling ({', '.join(stages)})")
    dumped: list[str] = []

    def on_stage(stage: str, ir: Any, seconds: float) -> None:
        progress.note(f"{stage} ({seconds:.2f} s)")
        if stage == args.dump_after:
            dumped.append(print_module(ir, generic=args.generic))

    artifact = compile_module(module, options, on_stage, registry)
    artifact.manifest["model"] = str(model.source)
    done(f"{artifact.manifest['kernels']} kernels")
    if dumped:
        write_output("-", dumped[0])
    if args.output is not None:
        folder = Path(args.output)
        artifact.save(folder)
        progress.note(f"wrote {', '.join(str(folder / f) for f in (artifact.kernels_file, SCHEDULE_FILE, MANIFEST_FILE))}")
    return 0


def _add_entry_flags(parser: argparse.ArgumentParser, verb: str) -> None:
    """--sampling and --speculate: the optional entries ``build_module`` adds (``verb``: import or compile)."""
    parser.add_argument(
        "--sampling",
        action="store_true",
        help=f"also {verb} the sampling entries (@prefill_sample, @decode_sample), which sampling needs: a compiled "
        "folder without them decodes greedily only",
    )
    parser.add_argument(
        "--speculate",
        action="store_true",
        help=f"also {verb} the verification entries of speculative decoding (@verify, and @verify_sample with "
        "--sampling), which --speculate and --draft need",
    )


def add_import_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``rusty import`` and its flags."""
    imp = sub.add_parser(
        "import",
        help="print a checkpoint as transformer-level IR",
        description="Print MODEL as transformer-level (tfm) IR: @decoder_layer, @prefill, @decode "
        "(and the entries --sampling and --speculate add, as rusty compile's flags do).",
    )
    imp.add_argument("model", nargs="?", metavar="MODEL", help="checkpoint (default: bundled SmolLM2)")
    imp.add_argument("-o", "--output", default="-", help="output file (written only if everything succeeds)")
    imp.add_argument("--generic", "--mlir-print-op-generic", dest="generic", action="store_true", help="print ops in MLIR's generic form")
    _add_entry_flags(imp, "import")
    imp.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    imp.set_defaults(handler=_cmd_import)


def add_compile_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``rusty compile`` and its flags."""
    comp = sub.add_parser(
        "compile",
        help="compile a checkpoint to WGSL or MSL kernels and a host schedule",
        description="Lower MODEL through every IR level (the rusty-default pipeline) and write "
        "kernels.wgsl (kernels.metal with --target msl), schedule.json and manifest.json to DIR: the greedy entries, "
        "with --sampling the sampling ones and with --speculate the verification ones.",
    )
    comp.add_argument("model", nargs="?", metavar="MODEL", help="checkpoint (default: bundled SmolLM2)")
    comp.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="folder to write: a new or empty one, or an earlier output of rusty compile, whose files are replaced "
        "(a folder holding other files is refused); needed unless --dump-after prints the IR",
    )
    comp.add_argument(
        "--target",
        default="webgpu",
        help="webgpu (default), apple or nvidia: WGSL kernels tuned for that target's limits; "
        "msl: Metal Shading Language kernels tuned for (and checked against) the apple target",
    )
    comp.add_argument(
        "--dump-after", metavar="STAGE", help=f"print the IR after one stage ({', '.join(name for name, _ in DEFAULT_STAGES)})"
    )
    comp.add_argument(
        "--generic",
        "--mlir-print-op-generic",
        dest="generic",
        action="store_true",
        help="print the --dump-after IR in MLIR's generic form (rusty-opt and mlir-opt parse both forms)",
    )
    add_compile_options(comp)
    _add_entry_flags(comp, "compile")
    comp.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    comp.set_defaults(handler=_cmd_compile)


__all__ = ["add_compile_command", "add_import_command", "load_model_arg"]
