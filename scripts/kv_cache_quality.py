"""Quality of the KV cache's precisions on SmolLM2 (f16 and q8_0 against f32), on the wgpu adapter.

For each ``--kv-cache`` precision the bundled SmolLM2-135M-Instruct (Q4_1 GGUF, real weights) is
compiled (paged cache, the default) and run on the wgpu adapter with the chat prompts of
``scripts/quantization_quality.py``, and compared with the f32 cache:

- greedy agreement: each generates N tokens greedily on its own; the share of positions equal to
  the f32 run's tokens, and the common prefix per prompt;
- teacher-forced: each reads the prompt plus the f32 run's N tokens, one token a step through
  ``@prefill_logits``; at the N + 1 next-token positions, mean and max KL(p_f32 || p) (nats) and the
  share of positions whose argmax agrees.

Not a CI test (minutes on 2 CPU cores with llvmpipe).

    python scripts/kv_cache_quality.py [--tokens N] [--json]
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

PROMPTS = (
    "What is the capital of France?",
    "Write a short poem about the sea.",
    "Explain photosynthesis in one sentence.",
    "Give me three tips for learning a new language.",
)
PRECISIONS = ("f32", "f16", "q8_0")


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=32, help="tokens generated per prompt (default 32)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    from rusty_ir.backends.runtime.model import ModelRuntime
    from rusty_ir.driver import CompileOptions, compile_model
    from rusty_ir.generate import generate
    from rusty_ir.importers import load_model

    model = load_model(None)
    prompts = [model.tokenizer.encode_chat([{"role": "user", "content": p}]) for p in PROMPTS]
    context = max(len(p) for p in prompts) + args.tokens + 1
    results: dict[str, Any] = {}
    reference: dict[str, Any] = {}
    for kv in PRECISIONS:
        artifact = compile_model(model, CompileOptions(kv_cache=kv, logits_entry=True)).artifact
        rt = ModelRuntime(artifact.schedule, artifact.wgsl, model.weights, context)
        greedy, forced = [], []
        for i, ids in enumerate(prompts):
            rt.reset()
            greedy.append(generate(rt, model.tokenizer, ids, args.tokens, stop_at_eos=False).generated_ids)
            rt.reset()
            sequence = ids + (reference["greedy"][i] if reference else greedy[-1])
            steps = [rt.prefill_logits(np.array(ids, np.int32), 0)]
            steps += [rt.prefill_logits(np.array([t], np.int32), len(ids) + j) for j, t in enumerate(sequence[len(ids) :])]
            forced.append([log_softmax(s) for s in steps])
        if not reference:
            reference = {"greedy": greedy, "forced": forced}
            continue
        kl = [
            float((np.exp(p) * (p - q)).sum())
            for ps, qs in zip(reference["forced"], forced, strict=True)
            for p, q in zip(ps, qs, strict=True)
        ]
        top1 = [
            int(p.argmax() == q.argmax()) for ps, qs in zip(reference["forced"], forced, strict=True) for p, q in zip(ps, qs, strict=True)
        ]
        same = [sum(a == b for a, b in zip(r, g, strict=True)) for r, g in zip(reference["greedy"], greedy, strict=True)]
        prefix = [
            next((j for j, (a, b) in enumerate(zip(r, g, strict=True)) if a != b), len(r))
            for r, g in zip(reference["greedy"], greedy, strict=True)
        ]
        results[kv] = {
            "greedy_agreement": sum(same) / (len(prompts) * args.tokens),
            "common_prefix": prefix,
            "mean_kl": float(np.mean(kl)),
            "max_kl": float(np.max(kl)),
            "top1_agreement": float(np.mean(top1)),
            "kv_cache_bytes": rt.memory_report()["kv_cache"],
        }
    if args.json:
        print(json.dumps(results))
    else:
        print(f"{'KV cache':<8} {'greedy agreement':>17} {'common prefix':>16} {'mean KL':>9} {'max KL':>8} {'top-1':>7}")
        for kv, r in results.items():
            print(f"{kv:<8} {r['greedy_agreement']:>16.1%} {', '.join(map(str, r['common_prefix'])):>16} "
                  f"{r['mean_kl']:>9.2e} {r['max_kl']:>8.2e} {r['top1_agreement']:>6.1%}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
