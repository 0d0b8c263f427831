"""Tensor-level structured ops that upstream linalg lacks: attention over a KV cache, appending to it, argmax, sampling.

The tensor level is upstream ``linalg``/``tensor``/``arith``/``math`` plus
``rquant.dequantize``; these four ops cover what a ``linalg.generic`` cannot
say well (IREE keeps the same kind of ops in its ``iree_linalg_ext`` dialect). Each is
the root of a dispatch region whose strategy knows its semantics.
"""

from xdsl.ir import Dialect

from rusty_ir.dialects.linalg_ext.ops import ArgmaxOp, AttentionOp, CacheAppendOp, SampleOp, kv_cache_buffer_type, q8_row_words

LinalgExt = Dialect("linalg_ext", [ArgmaxOp, AttentionOp, CacheAppendOp, SampleOp])

__all__ = ["ArgmaxOp", "AttentionOp", "CacheAppendOp", "LinalgExt", "SampleOp", "kv_cache_buffer_type", "q8_row_words"]
