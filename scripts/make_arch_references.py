"""Make tests/data/hf_architectures.json (+ _logits.npz): transformers on tiny Qwen3, Phi-3, Gemma 3 and Gemma 2
checkpoints.

Not run in CI. Needs torch and transformers, installed by hand only (never a project dependency):
``pip install torch --index-url https://download.pytorch.org/whl/cpu; pip install transformers``.
Made with torch 2.13.0 (CPU) and transformers 5.24.0.

The checkpoints are ``tests/importers/tiny_arch.py: architecture_checkpoints`` (seeded, so the test rebuilds
the same bytes). transformers loads each Hugging Face folder (``Qwen3ForCausalLM``: per-head q/k RMSNorm;
``Phi3ForCausalLM``: fused ``qkv_proj`` and ``gate_up_proj``; ``Gemma3ForCausalLM``: a sliding layer with its own
RoPE base and a global one with linear scaling, head dim 256; ``Gemma2ForCausalLM``: final-logit soft-capping, no
attention soft-capping) with ``AutoModelForCausalLM.from_pretrained`` in float32; the GGUF twins must match it too
(Gemma 2 has none: its GGUFs are refused). Adding an architecture leaves the others' records byte-identical. Recorded per architecture: ``STEPS`` greedy ids after
``PROMPT_IDS`` (full recompute per step, no EOS stop), each step's top-two gap, the model class that ran,
and the first step's logits (in the npz).

    python scripts/make_arch_references.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import transformers

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(ROOT / "tests"))

from hf_greedy import greedy_reference, new_report, write_reference  # noqa: E402 - after the sys.path setup above
from importers.tiny_arch import ARCHS, PROMPT_IDS, STEPS, architecture_checkpoints  # noqa: E402 - after the sys.path setup above


def main() -> None:
    report = new_report(PROMPT_IDS, STEPS, "architectures")
    logits: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = architecture_checkpoints(Path(tmp), DATA)
        for name in ARCHS:
            model = transformers.AutoModelForCausalLM.from_pretrained(paths[f"{name}_folder"], dtype=torch.float32).eval()
            logits[name], gen, steps = greedy_reference(model, PROMPT_IDS, STEPS)
            report["architectures"][name] = {"model_class": type(model).__name__, "generated_ids": gen, "greedy_steps": steps}
    write_reference(DATA, "hf_architectures", report, logits)
    print(json.dumps({k: [v["model_class"], v["generated_ids"]] for k, v in report["architectures"].items()}))


if __name__ == "__main__":
    main()
