"""Layer streaming's cost: prefill and decode tokens/s of one model fully resident against
``resident_layers=1`` and ``2`` (``ModelRuntime``; ``rusty run --resident-layers N``), on this machine's
wgpu adapter (a benchmark, not a test).

    python scripts/bench_layer_streaming.py [--shape tinyllama-1.1b] [--quant q4_0] [--prompt-tokens 8]
                                            [--decode-tokens 4] [--repeats 3] [--layers none,1,2]

Compiles the synthetic checkpoint (random weights of the real shape, cached under ~/.cache/rusty-ir),
loads one runtime per setting, then runs one warm-up and ``--repeats`` timed rounds, each a prefill of
the prompt and greedy decode steps (``decode_stream``, as ``rusty run`` decodes) per setting in turn
(interleaved, so load from other processes slows every setting alike); prints the medians, the
device's weight bytes, the bytes a streamed step uploads, and whether the generated tokens match the
first setting's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="tinyllama-1.1b")
    parser.add_argument("--quant", default="q4_0")
    parser.add_argument("--prompt-tokens", type=int, default=8)
    parser.add_argument("--decode-tokens", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layers", default="none,1,2", help="comma-separated resident_layers settings ('none': every layer)")
    args = parser.parse_args()

    from rusty_ir.backends.runtime import Device
    from rusty_ir.backends.runtime.model import ModelRuntime
    from rusty_ir.driver import CompileOptions, compile_model
    from rusty_ir.importers import load_model
    from rusty_ir.synthetic import cached_name, default_cache_dir, write_synthetic_gguf
    from rusty_ir.targets import target_for_adapter

    path = default_cache_dir() / cached_name(args.shape, args.quant)
    if not path.exists():
        write_synthetic_gguf(args.shape, args.quant, path)
    model = load_model(str(path))
    device = Device()
    compiled = compile_model(model, CompileOptions(target=target_for_adapter(device.info)), adapter=device.identity)
    P, N = args.prompt_tokens, args.decode_tokens
    prompt = np.random.default_rng(1).integers(0, model.config.vocab, size=P, dtype=np.int32)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"{args.shape} {args.quant}: {model.config.n_layers} layers; {device.info.get('device')} ({device.info.get('backend_type')}); "
          f"prompt {P}, decode {N}, median of {args.repeats} after 1 warm-up; commit {commit}")  # fmt: skip
    settings = [None if s == "none" else int(s) for s in args.layers.split(",")]
    runtimes = [ModelRuntime(compiled.artifact.schedule, compiled.artifact.wgsl, model.weights, P + N, device, resident_layers=n)
                for n in settings]  # fmt: skip
    pre: list[list[float]] = [[] for _ in settings]
    dec: list[list[float]] = [[] for _ in settings]
    ids: list[list[int]] = [[] for _ in settings]
    for r in range(1 + args.repeats):  # settings interleaved: a busy machine slows them alike
        for i, rt in enumerate(runtimes):
            rt.reset()
            t0 = time.perf_counter()
            token = rt.prefill(prompt, 0)
            t1 = time.perf_counter()
            ids[i] = [token, *rt.decode_stream(token, P, N)]
            t2 = time.perf_counter()
            if r:
                pre[i].append(t1 - t0)
                dec[i].append(t2 - t1)
    for i, (n, rt) in enumerate(zip(settings, runtimes, strict=True)):
        print(json.dumps({
            "resident_layers": n,
            "prefill_tokens_per_s": round(P / statistics.median(pre[i]), 3),
            "decode_tokens_per_s": round(N / statistics.median(dec[i]), 3),
            "decode_ms_per_token": round(1e3 * statistics.median(dec[i]) / N, 1),
            "prefill_s_runs": [round(t, 2) for t in pre[i]],
            "decode_s_runs": [round(t, 2) for t in dec[i]],
            "weights_MiB": round(rt.memory_report()["weights"] / 2**20, 1),
            "uploaded_MiB_per_step": round(rt._stream.nbytes / 2**20, 1) if rt._stream is not None else 0,
            "load_s": round(rt.load_seconds, 2),
            "tokens_match_first_setting": ids[i] == ids[0],
        }))  # fmt: skip


if __name__ == "__main__":
    main()
