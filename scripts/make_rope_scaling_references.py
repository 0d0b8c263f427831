"""Make tests/data/hf_rope_scaling.json (+ _logits.npz): transformers on tiny checkpoints with RoPE scaling
(llama3, linear, yarn).

Not run in CI. Needs torch and transformers, installed by hand only (never a project dependency):
``pip install torch --index-url https://download.pytorch.org/whl/cpu; pip install transformers``.
Made with torch 2.13.0 (CPU) and transformers 5.24.0.

The checkpoints are ``tests/importers/tiny_rope.py: rope_scaling_checkpoints`` (seeded, so the test
rebuilds the same bytes). transformers loads each Hugging Face folder with
``AutoModelForCausalLM.from_pretrained`` in float32, so its own RoPE initialisation
(``_compute_llama3_parameters``, linear scaling, ``_compute_yarn_parameters`` with its attention factor) is the
reference; the GGUF twins must match it too.
Recorded per scaling: ``STEPS`` greedy ids after ``PROMPT_IDS`` (full recompute per step, no EOS stop),
each step's top-two gap, and the first step's logits (in the npz).

    python scripts/make_rope_scaling_references.py
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
from importers.tiny_rope import PROMPT_IDS, SCALINGS, STEPS, rope_scaling_checkpoints  # noqa: E402 - after the sys.path setup above


def main() -> None:
    report = new_report(PROMPT_IDS, STEPS, "scalings")
    logits: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = rope_scaling_checkpoints(Path(tmp))
        for name in SCALINGS:
            model = transformers.AutoModelForCausalLM.from_pretrained(paths[f"{name}_folder"], dtype=torch.float32).eval()
            logits[name], gen, steps = greedy_reference(model, PROMPT_IDS, STEPS)
            report["scalings"][name] = {"generated_ids": gen, "greedy_steps": steps,
                                        "inv_freq": model.model.rotary_emb.inv_freq.tolist()}  # fmt: skip
            if name == "yarn":  # what multiplies cos and sin (1 for the others, not recorded: their records stay as they were)
                report["scalings"][name]["attention_scaling"] = float(model.model.rotary_emb.attention_scaling)
    write_reference(DATA, "hf_rope_scaling", report, logits)
    print(json.dumps({k: v["generated_ids"] for k, v in report["scalings"].items()}))


if __name__ == "__main__":
    main()
