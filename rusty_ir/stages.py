"""The stages of the default pipeline, as data: no xDSL here, so that finding a compiled model in
the cache (whose key includes the pipeline text) does not load the compiler."""

from __future__ import annotations

DEFAULT_STAGES: tuple[tuple[str, str], ...] = (
    # (stage name, pass spec): the IR after each pass is that stage
    ("tensor", "convert-transformer-to-tensor"),
    # siblings first: form-dispatches must see gate/up as one contraction to fuse SiLU(gate) * up
    ("fused", "linalg-fuse-siblings"),
    ("dispatch", "form-dispatches"),
    # tuning annotates; everything after only reads the configs
    ("tuned", "tune-workgroups{target=TARGET}"),
    # bufferize before tiling: strategies store into the region's out buffers
    ("bufferized", "rusty-bufferize"),
    ("tiled", "convert-dispatch-to-tiled"),
    # slots are planned on the host functions that tiling left
    ("planned", "plan-memory"),
    ("gpu", "convert-tiled-to-gpu"),
    # a read-only argument bigger than one storage binding (Llama-3-8B's 295 MB embedding) becomes parts
    ("split", "split-bindings{target=TARGET}"),
)
"""The default pipeline, stage by stage: transformer-level IR in, gpu-level IR out."""

KV_CACHE_TYPES: tuple[str, ...] = ("f32", "f16", "q8_0")
"""What the KV cache may hold (``convert-transformer-to-tensor{kv-cache-type=...}``, ``--kv-cache``)."""

DEFAULT_KV_BLOCK_SIZE = 16
"""Positions per block of the paged KV cache unless given (``kv-block-size``; 0 = not paged)."""
