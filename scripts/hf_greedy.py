"""What the reference scripts (make_*_references.py) record of a transformers model: greedy steps after a prompt.

Not run in CI; needs torch and transformers (installed by hand, never project dependencies).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers


def greedy_reference(model: Any, prompt_ids: list[int], steps: int) -> tuple[np.ndarray, list[int], list[dict[str, float]]]:
    """(first step's logits, ``steps`` greedy ids, each step's top-two gap): a full recompute per step, no EOS stop."""
    ids, generated, gaps = list(prompt_ids), [], []
    first = None
    with torch.no_grad():
        for _ in range(steps):
            row = model(torch.tensor([ids])).logits[0, -1].numpy().astype(np.float32)
            if first is None:
                first = row
            top = np.sort(row)[-2:]
            gaps.append({"top1_minus_top2": float(top[1] - top[0])})
            generated.append(int(row.argmax()))
            ids.append(generated[-1])
    assert first is not None, "steps must be positive"
    return first, generated, gaps


def new_report(prompt_ids: list[int], steps: int, section: str) -> dict[str, Any]:
    """A reference file's header (the prompt, the steps, torch's and transformers' versions) and an empty ``section``
    for the per-model records."""
    return {"prompt_ids": prompt_ids, "steps": steps, "torch": torch.__version__, "transformers": transformers.__version__, section: {}}


def write_reference(data: Path, stem: str, report: dict[str, Any], logits: dict[str, np.ndarray]) -> None:
    """``data/STEM.json`` (the report) and ``data/STEM_logits.npz`` (the logits by name), as the tests read them
    (``tests/oracle_checks.py: hf_reference``)."""
    (data / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    np.savez_compressed(data / f"{stem}_logits.npz", **logits)
