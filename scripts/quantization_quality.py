"""Quality of compile-time weight quantization on SmolLM2: greedy-token agreement and KL divergence.

Makes (once) a float Hugging Face folder of SmolLM2-135M-Instruct with ``write_hf_folder`` from
the bundled GGUF. Its weights are the dequantized values of that Q4_1 GGUF, so "unquantized" here
means that float model, not the original bf16 training checkpoint. Then, for each scheme of
``quantize-weights`` (q8_0, q4_0, int4_g32, int4_g128), it runs the same pass and
``QuantizingStore`` that ``rusty run --quantize`` uses, on the numpy reference interpreter,
against the float model, on a few chat prompts:

- greedy agreement: the quantized model generates N tokens greedily on its own; the fraction of
  positions equal to the float model's greedy tokens, and the length of the common prefix;
- teacher-forced: both models read the prompt plus the float model's N tokens; at each of the
  N + 1 next-token positions, mean KL(p_float || p_quant) of the softmax distributions (nats) and
  the fraction of positions whose argmax agrees.

A scheme that cannot apply (int4_g128 needs rows that are a multiple of 128; SmolLM2's hidden
size is 576) is reported with the pass's error. Not a CI test (minutes on 2 CPU cores).

    python scripts/quantization_quality.py [--folder DIR] [--tokens N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

PROMPTS = (
    "What is the capital of France?",
    "Write a short poem about the sea.",
    "Explain photosynthesis in one sentence.",
    "Give me three tips for learning a new language.",
)
SCHEMES = ("q8_0", "q4_0", "int4_g32", "int4_g128")


def float_folder(folder: Path) -> Path:
    """The float32 safetensors folder of the bundled SmolLM2 (written once)."""
    from rusty_ir.importers import load_model
    from rusty_ir.importers.export import write_hf_folder

    if not (folder / "config.json").is_file():
        print(f"writing the float32 SmolLM2 folder {folder}", file=sys.stderr)
        write_hf_folder(load_model(None), folder, dtype="f32", norm_dtype="f32")
    return folder


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


class Runner:
    """The reference interpreter on ``@prefill_logits`` (one token at a time after the prompt)."""

    def __init__(self, model: Any, scheme: str | None, context: int) -> None:
        from rusty_ir.dialects.transformer.interp import ReferenceInterpreter
        from rusty_ir.driver import quantize_module, quantized_weights
        from rusty_ir.importers.to_ir import build_module

        module = build_module(model.config, model.weights, logits_entry=True)
        weights = quantized_weights(quantize_module(module, scheme), model.weights, keep=True) if scheme else model.weights
        self.interp = ReferenceInterpreter(module, weights, max_context=context)

    def logits(self, ids: list[int], pos: int) -> np.ndarray:
        return np.asarray(self.interp.call("prefill_logits", np.asarray(ids, np.int32), pos), dtype=np.float32)

    def greedy(self, prompt: list[int], n: int) -> tuple[list[int], list[np.ndarray]]:
        """N greedy tokens and the logits before each of them (N + 1 rows, the last after the N-th token)."""
        self.interp.reset()
        rows = [self.logits(prompt, 0)]
        tokens: list[int] = []
        for _ in range(n):
            tokens.append(int(np.argmax(rows[-1])))
            rows.append(self.logits([tokens[-1]], len(prompt) + len(tokens) - 1))
        return tokens, rows

    def forced(self, prompt: list[int], tokens: list[int]) -> list[np.ndarray]:
        """Logits before each of ``tokens`` and after the last, reading ``tokens`` whatever it predicts."""
        self.interp.reset()
        rows = [self.logits(prompt, 0)]
        for i, t in enumerate(tokens):
            rows.append(self.logits([t], len(prompt) + i))
        return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--folder",
        type=Path,
        default=Path.home() / ".cache" / "rusty-ir" / "smollm2-135m-f32",
        help="where the float SmolLM2 folder is (written if missing)",
    )
    parser.add_argument("--tokens", type=int, default=32, help="greedy tokens per prompt (default 32)")
    parser.add_argument("--schemes", default=",".join(SCHEMES), help="comma-separated schemes")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args()

    from rusty_ir.errors import RustyError
    from rusty_ir.importers import load_model

    model = load_model(float_folder(args.folder))
    prompts = [model.tokenizer.encode_chat([{"role": "user", "content": p}]) for p in PROMPTS]
    context = max(len(p) for p in prompts) + args.tokens + 1
    start = time.perf_counter()
    ref = Runner(model, None, context)
    float_runs = [ref.greedy(p, args.tokens) for p in prompts]
    del ref
    print(f"float model: {time.perf_counter() - start:.1f} s", file=sys.stderr)

    results: dict[str, Any] = {}
    for scheme in args.schemes.split(","):
        start = time.perf_counter()
        try:
            runner = Runner(model, scheme, context)
        except RustyError as err:
            results[scheme] = {"error": str(err)}
            print(f"{scheme}: {err}", file=sys.stderr)
            continue
        same, prefix, kls, top1 = [], [], [], []
        for prompt, (tokens, p_rows) in zip(prompts, float_runs, strict=True):
            q_tokens, _ = runner.greedy(prompt, args.tokens)
            same.append(float(np.mean(np.array(q_tokens) == np.array(tokens))))
            prefix.append(next((i for i, (a, b) in enumerate(zip(q_tokens, tokens)) if a != b), len(tokens)))
            for p, q in zip(p_rows, runner.forced(prompt, tokens), strict=True):
                lp, lq = log_softmax(p), log_softmax(q)
                kls.append(float(np.sum(np.exp(lp) * (lp - lq))))
                top1.append(int(np.argmax(p)) == int(np.argmax(q)))
        results[scheme] = {
            "greedy_agreement": float(np.mean(same)),
            "common_prefix_tokens": prefix,
            "mean_kl": float(np.mean(kls)),
            "max_kl": float(np.max(kls)),
            "teacher_forced_top1": float(np.mean(top1)),
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(f"{scheme}: {results[scheme]}", file=sys.stderr)
        del runner

    report = {"model": str(args.folder), "prompts": list(PROMPTS), "tokens": args.tokens, "schemes": results}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    n = args.tokens
    print(
        f"| scheme | greedy agreement ({len(prompts)} prompts x {n} tokens) | common prefix per prompt | "
        f"mean KL(p_float ‖ p_quant), nats | max KL | teacher-forced top-1 agreement |"
    )
    print("|---|---|---|---|---|---|")
    for scheme, r in results.items():
        if "error" in r:
            print(f"| {scheme} | not applicable: {r['error']} | | | | |")
            continue
        print(
            f"| {scheme} | {r['greedy_agreement']:.1%} | {', '.join(map(str, r['common_prefix_tokens']))} | "
            f"{r['mean_kl']:.4f} | {r['max_kl']:.3f} | {r['teacher_forced_top1']:.1%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
