"""The stages of the default pipeline, as data: no xDSL here, so that finding a compiled model in
the cache (whose key includes the pipeline text) does not load the compiler."""

from __future__ import annotations

DEFAULT_STAGES: tuple[tuple[str, str], ...] = (
    # (stage name, pass spec): the IR after each pass is that stage
    # the target (limits, subgroups, f16) every later pass reads from the module
    ("target", "attach-target{target=TARGET}"),
    ("tensor", "convert-transformer-to-tensor"),
    # upstream linalg's named ops (matmul, softmax, ...: tensor-level input written by hand or by mlir-opt) become
    # the generics the kernel schedules take; a model's tensor level has none, and is unchanged
    ("generalized", "lower-upstream-linalg"),
    # siblings first: form-dispatches must see gate/up as one contraction to fuse SiLU(gate) * up
    ("fused", "linalg-fuse-siblings"),
    ("dispatch", "form-dispatches"),
    # fewer kernels: cache appends into the k/v projection's epilogue, the q and k/v projections side by side
    ("merged", "merge-dispatches"),
    # tuning annotates; everything after only reads the configs
    ("tuned", "tune-workgroups"),
    # bufferize before tiling: schedules store into the region's out buffers
    ("bufferized", "rusty-bufferize"),
    # tile and distribute: each region's schedule as a loop nest of tiled ops
    ("tiled", "convert-dispatch-to-tiled"),
    # quantized weights the kernels read through quant loads: codes and scales apart, 16-byte aligned
    ("laid-out", "weight-layout"),
    # collective ops first (they need every invocation), then the loops become ids
    ("promoted", "promote-to-workgroup-memory"),
    ("reduced", "reduction-to-subgroup"),
    ("distributed", "distribute-to-gpu-ids"),
    # weight reads become word loads, which vectorize then merges into 16-byte loads
    ("dequantized", "lower-quant-loads"),
    ("vectorized", "vectorize"),
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
