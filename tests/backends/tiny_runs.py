"""Small synthetic models compiled through every IR level and run on the wgpu adapter (llvmpipe in CI).

Shared by the runtime tests that compare one way of running a model with another (KV cache layouts,
layer streaming): the same prompt, context and prefill step size, so that a 37-token prompt is
three prefill steps and the decode steps follow.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import numpy as np

from rusty_ir.backends.runtime.model import ModelRuntime
from rusty_ir.driver import Artifact, CompileOptions, compile_model
from rusty_ir.generate import generate
from rusty_ir.importers import load_model
from rusty_ir.synthetic import write_synthetic_gguf

CONTEXT = 96
PROMPT = list(range(3, 40))  # 37 tokens: three prefill steps of at most MAX_PREFILL
MAX_PREFILL = 16


def synthetic_model(shape: str, folder: Path) -> Any:
    """A random-weight Q4_0 checkpoint of a (hidden) synthetic shape, loaded."""
    return load_model(str(write_synthetic_gguf(shape, "q4_0", folder / f"{shape}.gguf")))


@functools.cache
def _artifact(model_path: str, options: CompileOptions) -> Artifact:
    return compile_model(load_model(model_path), options, use_cache=False).artifact


def runtime(model: Any, options: CompileOptions | None = None, **kwargs: Any) -> ModelRuntime:
    """``model`` compiled with ``options`` (plus the logits entry; compiled once per options) on a fresh runtime."""
    options = options or CompileOptions()
    artifact = _artifact(str(model.source), dataclasses.replace(options, logits_entry=True))
    return ModelRuntime(artifact.schedule, artifact.wgsl, model.weights, CONTEXT, max_prefill=MAX_PREFILL, **kwargs)


def run(rt: ModelRuntime, model: Any, tokens: int) -> tuple[list[int], np.ndarray]:
    """``tokens`` greedy tokens after ``PROMPT``, then (a new sequence) the logits after its first 9 tokens."""
    generated = generate(rt, model.tokenizer, PROMPT, tokens, stop_at_eos=False).generated_ids
    rt.reset()
    return generated, rt.prefill_logits(np.array(PROMPT[:9], np.int32))
