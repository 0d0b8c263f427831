"""One tiny Llama (tests/importers/tiny.py's shape) compiled once per test session, with the ``@verify`` and
sampling entries and a paged KV cache of 4-position blocks: the wgpu tests of speculative decoding, KV-cache
offload and chunked prefill share it (a compile is about 20 s on the 2-core CI machine). The artifact depends on
the model's shapes and tensor names only, so any checkpoint written by ``tiny_checkpoint`` runs on it."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

from importers.tiny import random_weights, tiny_config, write_tiny_gguf

from rusty_ir.backends.runtime.model import ModelRuntime
from rusty_ir.driver import Artifact, CompileOptions, compile_model
from rusty_ir.importers import load_model

BLOCK = 4
"""Positions per KV-cache block."""


def tiny_checkpoint(path: Path, seed: int = 3) -> Path:
    """A tiny Llama GGUF with random weights of ``seed`` at ``path``."""
    cfg = tiny_config("llama")
    return write_tiny_gguf(path, cfg, random_weights(cfg, seed=seed))


@functools.cache
def tiny_model() -> Any:
    """The loaded tiny checkpoint of seed 3 (in a temporary folder kept for the session)."""
    return load_model(tiny_checkpoint(Path(tempfile.mkdtemp(prefix="rusty-tiny-")) / "tiny.gguf"))


@functools.cache
def tiny_artifact() -> Artifact:
    """``tiny_model()`` compiled with the verify and sampling entries and a paged cache (once)."""
    options = CompileOptions(verify_entry=True, sampling_entries=True, kv_block_size=BLOCK)
    return compile_model(tiny_model(), options, use_cache=False).artifact


def tiny_runtime(context_length: int = 96, model: Any = None, **kwargs: Any) -> ModelRuntime:
    """A fresh wgpu runtime of the shared artifact over ``model``'s weights (default ``tiny_model()``)."""
    model = model if model is not None else tiny_model()
    artifact = tiny_artifact()
    return ModelRuntime(artifact.schedule, artifact.wgsl, model.weights, context_length, **kwargs)
