"""The long fuzz campaign: mutated checkpoints and IR files through the real tools, in forked children.

    python scripts/fuzz_inputs.py                      # 2,000 checkpoints + 500 IR files (about 6 minutes on 2 cores)
    python scripts/fuzz_inputs.py --checkpoints 200 --ir 50 --seed 7 --keep failures/

Seeds are tiny real checkpoints (``tests/fuzz/seeds.py``: GGUF qwen2 Q8_0 with biases and a chat template,
GGUF llama with a SentencePiece vocabulary in F16, GGUF llama Q4_0 with an explicit general.alignment, Hugging
Face folders in F32 and BF16) and IR (their transformer-level modules from ``rusty import``, the tensor- and
gpu-level modules ``rusty-opt`` makes of one, and the chunks of every lit test). Each case applies one
mutation of ``tests/fuzz/mutators.py`` and runs the command a user would:

- a checkpoint: ``rusty run MODEL --backend reference --json --max-tokens 3`` (``--chat`` when the chat template
  was changed); one case in ten ``rusty compile MODEL -o DIR`` instead, one in 25 ``rusty run`` on wgpu;
- an IR file: ``rusty-opt FILE -p rusty-default`` (or the lit test's own pass), ``rusty-translate --to-wgsl``,
  ``--to-msl`` or ``--to-schedule`` for gpu-level IR.

Every run is a child forked from a parent that has imported the tools once, timed, killed after
``--timeout`` seconds and measured (peak RSS from ``wait4``). A run fails the campaign when it ends in an
internal error (exit 2) or a crash, hangs, passes ``--max-rss-gb``, prints an error that is not one clean
line, or, for a mutation ``Mutation.detectable`` marks, exits 0 with output different from the unmutated
seed's (silently wrong). Prints a summary table (``--json FILE`` for the numbers; ``--keep DIR`` keeps the
inputs of failing cases) and exits 1 if anything failed. Results are recorded in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import random
import resource
import shlex
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ["TOKENIZERS_PARALLELISM"] = "false"  # forked children must not inherit a thread pool

from fuzz.mutators import Mutation, mutate_gguf, mutate_hf_folder, mutate_ir  # noqa: E402 - after the sys.path setup above
from fuzz.seeds import make_seeds  # noqa: E402 - after the sys.path setup above

PROMPT = "the world 12 hello the world"
SAFETY_ADDRESS_SPACE = 4 * 2**30
"""A child's address-space limit: a runaway allocation fails (a failure of the campaign either way) instead of
taking a shared machine's memory. Twice the 2 GB resident limit; wgpu on llvmpipe runs within it."""


@dataclass
class Outcome:
    rc: int | None
    """Exit status; None when killed for the time limit; negative: killed by that signal."""
    seconds: float
    peak_rss: int
    stdout: str
    stderr: str


@dataclass
class Case:
    group: str
    """``checkpoint`` or ``ir``."""
    mutation: Mutation
    command: list[str]
    outcome: Outcome
    verdict: str
    """``ok``, ``clean-error``, or a failure: ``internal-error``, ``crash``, ``hang``, ``memory``, ``unclean-error``,
    ``silently-wrong``."""


# --- running a tool in a forked child -------------------------------------------------------------


def _tool_mains() -> dict[str, Any]:
    # what the children need, imported once here: xDSL, the passes, the emitters, tokenizers, jinja2
    import jinja2.sandbox  # noqa: F401 - imported for the forked children
    import tokenizers  # noqa: F401 - imported for the forked children

    from rusty_ir.backends import msl, schedule, wgsl  # noqa: F401 - imported for the forked children
    from rusty_ir.importers import to_ir  # noqa: F401 - imported for the forked children
    from rusty_ir.registry import build_registry
    from rusty_ir.tools import rusty, rusty_opt, rusty_translate

    build_registry()
    return {"rusty": rusty.main, "rusty-opt": rusty_opt.main, "rusty-translate": rusty_translate.main}


def run_forked(main: Any, argv: list[str], timeout: float, scratch: Path) -> Outcome:
    """``main(argv)`` in a forked child with stdout/stderr captured; killed after ``timeout`` seconds."""
    out_path, err_path = scratch / "stdout", scratch / "stderr"
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        rc = 70
        try:
            resource.setrlimit(resource.RLIMIT_AS, (SAFETY_ADDRESS_SPACE, SAFETY_ADDRESS_SPACE))
            out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out, 1)
            os.dup2(err, 2)
            sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), encoding="utf-8", errors="backslashreplace")
            sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), encoding="utf-8", errors="backslashreplace")
            rc = int(main(argv))
        except SystemExit as e:  # argparse
            rc = e.code if isinstance(e.code, int) else 2
        except BaseException:  # anything escaping main is a crash
            import traceback

            traceback.print_exc()
            rc = 71
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:
                    pass
            os._exit(rc)
    rc: int | None = None
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            rc = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() - start > timeout:
            os.kill(pid, signal.SIGKILL)
            _, _, usage = os.wait4(pid, 0)
            break
        time.sleep(0.005)
    seconds = time.monotonic() - start

    def read(p: Path) -> str:
        return p.read_bytes()[:20000].decode("utf-8", "backslashreplace") if p.exists() else ""

    return Outcome(rc, seconds, usage.ru_maxrss * 1024, read(out_path), read(err_path))


def classify(outcome: Outcome, max_rss: int) -> str:
    """The verdict on one run, before comparing outputs."""
    if outcome.rc is None:
        return "hang"
    if outcome.peak_rss > max_rss:
        return "memory"
    if outcome.rc == 2:
        return "internal-error"
    if outcome.rc not in (0, 1):
        return "crash"
    if outcome.rc == 1:
        lines = [line for line in outcome.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if "error:" in line]
        return "clean-error" if len(errors) == 1 and "Traceback" not in outcome.stderr else "unclean-error"
    return "ok"


# --- seeds ----------------------------------------------------------------------------------------


def ir_seeds(work: Path, seeds: dict[str, Path], mains: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(name, text, command flags) of every IR seed."""
    out: list[tuple[str, str, list[str]]] = []
    for name in ("qwen2-q8_0.gguf", "llama-spm-f16.gguf"):
        r = run_forked(mains["rusty"], ["import", str(seeds[name]), "-q"], 120, work)
        assert r.rc == 0, r.stderr
        out.append((f"tfm:{name}", r.stdout, ["-p", "rusty-default"]))
        out.append((f"tfm-parse:{name}", r.stdout, []))
    (work / "tfm.mlir").write_text(out[0][1])
    tensor = run_forked(mains["rusty-opt"], [str(work / "tfm.mlir"), "-p", "convert-transformer-to-tensor"], 300, work)
    gpu = run_forked(mains["rusty-opt"], [str(work / "tfm.mlir"), "-p", "rusty-default"], 300, work)
    assert tensor.rc == 0 and gpu.rc == 0, tensor.stderr + gpu.stderr
    out.append(("tensor:qwen2-q8_0.gguf", tensor.stdout, ["-p", "rusty-default"]))
    for target in ("wgsl", "schedule", "msl"):
        out.append((f"gpu:{target}", gpu.stdout, [f"--to-{target}"]))
    for lit in sorted((ROOT / "lit_tests").rglob("*.mlir")):
        text = lit.read_text()
        run = next((line for line in text.splitlines() if "RUN:" in line and "rusty-opt %s" in line), None)
        if run is None or "--verify-diagnostics" in run:
            continue
        flags = shlex.split(run.split("rusty-opt %s", 1)[1].split("|")[0])
        flags = [f for f in flags if f not in ("--split-input-file", "2>&1")]
        for i, chunk in enumerate(text.split("// -----")):
            out.append((f"lit:{lit.relative_to(ROOT / 'lit_tests')}#{i}", chunk, [*flags, "--allow-unregistered-dialect"]))
    return out


# --- the campaign ---------------------------------------------------------------------------------


def run_command(model: Path, backend: str, chat: bool) -> list[str]:
    return ["run", str(model), "--backend", backend, "--json", "--max-tokens", "3", "-q", "--chat" if chat else "--no-chat",
            "--prompt", PROMPT]  # fmt: skip


def checkpoint_command(model: Path, mutation: Mutation, rng: random.Random, out_dir: Path) -> list[str]:
    """One case in ten a compile, one in 25 a run on wgpu, the others a run on the reference interpreter."""
    roll = rng.random()
    if roll < 0.1:
        shutil.rmtree(out_dir, ignore_errors=True)
        return ["compile", str(model), "-q", "-o", str(out_dir)]
    return run_command(model, "wgpu" if roll < 0.14 else "reference", "template" in mutation.kind)


def fingerprint(command: list[str], outcome: Outcome) -> Any:
    """What must not change under an undetectable mutation: the ids of a run (compiles give none)."""
    if command[0] != "run" or outcome.rc != 0:
        return None
    try:
        report = json.loads(outcome.stdout)
    except ValueError:
        return "unparseable output"
    return report.get("prompt_ids"), report.get("generated_ids")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", type=int, default=2000, help="mutated checkpoints (default 2000)")
    parser.add_argument("--ir", type=int, default=500, help="mutated IR files (default 500)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a run counts as a hang (default 30)")
    parser.add_argument("--max-rss-gb", type=float, default=2.0, help="peak RSS that counts as a failure (default 2)")
    parser.add_argument("--json", metavar="FILE", help="write the summary and every failure as JSON")
    parser.add_argument("--keep", metavar="DIR", help="copy the inputs of failing cases here")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    max_rss = int(args.max_rss_gb * 2**30)
    work = Path(tempfile.mkdtemp(prefix="rusty-fuzz-"))
    os.environ["RUSTY_CACHE_DIR"] = str(work / "cache")
    start = time.monotonic()
    try:
        mains = _tool_mains()
        seeds = make_seeds(work / "seeds")
        baseline: dict[tuple[str, str, bool], Any] = {}  # (seed, backend, chat) -> ids
        for name, path in seeds.items():
            for backend in ("reference", "wgpu"):
                for chat in (False, True):
                    command = run_command(path, backend, chat)
                    r = run_forked(mains["rusty"], command, args.timeout, work)
                    if r.rc != 0:
                        raise SystemExit(f"seed {name} does not run: {r.stderr}")
                    baseline[(name, backend, chat)] = fingerprint(command, r)
        cases: list[Case] = []
        for i in range(args.checkpoints):
            name = rng.choice(sorted(seeds))
            case_dir = work / "case"
            shutil.rmtree(case_dir, ignore_errors=True)
            case_dir.mkdir()
            if name.endswith(".gguf"):
                data, mutation = mutate_gguf(seeds[name].read_bytes(), rng)
                model = case_dir / "model.gguf"
                model.write_bytes(data)
            else:
                model = case_dir / "model"
                shutil.copytree(seeds[name], model)
                mutation = mutate_hf_folder(model, rng)
            command = checkpoint_command(model, mutation, rng, case_dir / "out")
            r = run_forked(mains["rusty"], command, args.timeout, work)
            verdict = classify(r, max_rss)
            if verdict == "ok" and mutation.detectable and command[0] == "run":
                if fingerprint(command, r) != baseline[(name, command[3], "--chat" in command)]:
                    verdict = "silently-wrong"
            cases.append(
                Case("checkpoint", Mutation(mutation.kind, f"{name}: {mutation.detail}", mutation.detectable), command, r, verdict)
            )
            _keep(args.keep, cases[-1], model, i)
            _progress(i + 1, args.checkpoints, "checkpoints", cases, start)
        seeds_ir = ir_seeds(work, seeds, mains)
        for i in range(args.ir):
            name, text, flags = rng.choice(seeds_ir)
            for _ in range(rng.choice((1, 1, 2, 3))):
                text, mutation = mutate_ir(text, rng)
            path = work / "case.mlir"
            path.write_text(text, encoding="utf-8", errors="surrogateescape")
            tool = "rusty-translate" if name.startswith("gpu:") else "rusty-opt"
            command = [str(path), *flags, "-o", str(work / "out.txt")]
            r = run_forked(mains[tool], command, args.timeout, work)
            cases.append(Case("ir", Mutation(mutation.kind, name, False), [tool, *command], r, classify(r, max_rss)))
            _keep(args.keep, cases[-1], path, i)
            _progress(i + 1, args.ir, "IR files", cases, start)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _report(cases, args, time.monotonic() - start, max_rss)


FAILURES = ("internal-error", "crash", "hang", "memory", "unclean-error", "silently-wrong")


def _keep(folder: str | None, case: Case, path: Path, index: int) -> None:
    if folder is None or case.verdict not in FAILURES:
        return
    dest = Path(folder) / f"{case.group}-{index:05d}-{case.verdict}{path.suffix}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    (shutil.copytree if path.is_dir() else shutil.copy)(path, dest)
    (dest.parent / f"{dest.name}.txt").write_text(json.dumps(asdict(case), indent=1, default=str))


def _progress(done: int, total: int, what: str, cases: list[Case], start: float) -> None:
    if done % 50 == 0 or done == total:
        bad = sum(c.verdict in FAILURES for c in cases)
        print(f"fuzz: {done}/{total} {what}, {bad} failures so far, {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)


def _report(cases: list[Case], args: argparse.Namespace, seconds: float, max_rss: int) -> int:
    by_group: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for c in cases:
        by_group[c.group][c.verdict] += 1
        by_kind[f"{c.group}/{c.mutation.kind}"][c.verdict] += 1
    columns = ("ok", "clean-error", *FAILURES)
    print(f"| cases | {' | '.join(columns)} |")
    print(f"|---|{'---|' * len(columns)}")
    for group in sorted(by_group):
        print(f"| {group} ({sum(by_group[group].values())}) | {' | '.join(str(by_group[group][k]) for k in columns)} |")
    print()
    for kind in sorted(by_kind):
        print(f"| {kind} | {' | '.join(str(by_kind[kind][k]) for k in columns)} |")
    slowest = max(cases, key=lambda c: c.outcome.seconds)
    biggest = max(cases, key=lambda c: c.outcome.peak_rss)
    failures = [c for c in cases if c.verdict in FAILURES]
    detectable = collections.Counter(c.verdict for c in cases if c.mutation.detectable)
    print(f"\ndetectable mutations: {sum(detectable.values())} ({detectable['clean-error']} clean errors, {detectable['ok']} runs "
          f"with the seed's output or compiles, {detectable['silently-wrong']} silently wrong)")  # fmt: skip
    print(f"{len(cases)} cases in {seconds:.0f} s; slowest run {slowest.outcome.seconds:.1f} s ({slowest.mutation.kind}), "
          f"largest peak RSS {biggest.outcome.peak_rss / 2**20:.0f} MiB ({biggest.mutation.kind}); {len(failures)} failures")  # fmt: skip
    for c in failures[:20]:
        print(f"  {c.verdict}: {c.mutation.kind} {c.mutation.detail[:100]!r}: {c.outcome.stderr.strip()[-300:]}")
    if args.json:
        summary = {
            "seed": args.seed, "seconds": round(seconds), "timeout_s": args.timeout, "max_rss_bytes": max_rss,
            "groups": {g: dict(v) for g, v in by_group.items()}, "kinds": {k: dict(v) for k, v in by_kind.items()},
            "detectable": dict(detectable),
            "slowest_s": round(slowest.outcome.seconds, 2), "largest_rss_bytes": biggest.outcome.peak_rss,
            "failures": [asdict(c) for c in failures],
        }  # fmt: skip
        Path(args.json).write_text(json.dumps(summary, indent=1, default=str))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
