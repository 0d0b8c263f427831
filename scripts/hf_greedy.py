"""What the reference scripts (make_*_references.py) record of a transformers model: greedy steps after a prompt.

Not run in CI; needs torch and transformers (installed by hand, never project dependencies).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


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
