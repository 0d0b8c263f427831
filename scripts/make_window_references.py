"""Make tests/data/hf_windows.json (+ _logits.npz): transformers on tiny Gemma 2 (attention-logit soft-capping, a
sliding layer), Mistral (a sliding window on every layer) and Gemma 3 (a sliding layer with its own RoPE) checkpoints
whose window is shorter than the prompt.

Not run in CI. Needs torch and transformers, installed by hand only (never a project dependency):
``pip install torch --index-url https://download.pytorch.org/whl/cpu; pip install transformers``.
Made with torch 2.13.0 (CPU) and transformers 5.24.0.

The checkpoints are ``tests/importers/tiny_window.py: window_checkpoints`` (seeded, so the test rebuilds the same
bytes). transformers loads each Hugging Face folder with ``AutoModelForCausalLM.from_pretrained`` in float32 (Gemma 2
with its eager attention, the one that soft-caps); recorded per architecture: ``STEPS`` greedy ids after
``PROMPT_IDS`` (full recompute per step, no EOS stop), each step's top-two gap, the model class that ran, the first
step's logits (in the npz), and the first step's logits of the same model without its window (and cap), which the
test checks differ, so that the window matters on this prompt.

    python scripts/make_window_references.py
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
from importers.tiny_window import ARCHS, PROMPT_IDS, STEPS, window_checkpoints  # noqa: E402 - after the sys.path setup above


def main() -> None:
    report = new_report(PROMPT_IDS, STEPS, "architectures")
    logits: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = window_checkpoints(Path(tmp), DATA)
        for name in ARCHS:
            kw = {"attn_implementation": "eager"} if name == "gemma2" else {}
            model = transformers.AutoModelForCausalLM.from_pretrained(paths[f"{name}_folder"], dtype=torch.float32, **kw).eval()
            logits[name], gen, steps = greedy_reference(model, PROMPT_IDS, STEPS)
            report["architectures"][name] = {"model_class": type(model).__name__, "generated_ids": gen, "greedy_steps": steps}
            config = json.loads((paths[f"{name}_folder"] / "config.json").read_text(encoding="utf-8"))
            config["sliding_window"] = None if name == "mistral" else 64
            config.pop("attn_logit_softcapping", None)
            plain = transformers.AutoModelForCausalLM.from_pretrained(paths[f"{name}_folder"], dtype=torch.float32,
                                                                      config=type(model.config)(**config), **kw).eval()  # fmt: skip
            logits[f"{name}_full_attention"] = greedy_reference(plain, PROMPT_IDS, 1)[0]
    write_reference(DATA, "hf_windows", report, logits)
    print(json.dumps({k: [v["model_class"], v["generated_ids"]] for k, v in report["architectures"].items()}))


if __name__ == "__main__":
    main()
