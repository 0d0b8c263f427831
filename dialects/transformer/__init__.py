"""The ``tfm`` (transformer) dialect: the model level, the top of the pipeline.

Level: what the importers produce from a checkpoint. One op per model-level
operation (embedding, rms_norm, linear, rope, attention against a KV cache,
silu/gelu, mul/add, softcap, softmax, logits, argmax, sample) on 2-D activations
``tensor<?xNxf32>`` (tokens x features, the sequence length dynamic), with
weights as ``tfm.weight`` ops that name tensors of the weight store, possibly
quantized (``!rquant`` element types). The decoder layer is one function called
per layer with that layer's weights. ``convert-transformer-to-tensor`` lowers it
to linalg/tensor/arith + ``rquant``. ``rusty_ir.dialects.transformer.interp`` is
the numpy reference interpreter every lowering is checked against.
See docs/architecture.md, "Transformer level".
"""

from xdsl.ir import Dialect

from rusty_ir.dialects.transformer.ops import (
    GELU_APPROXIMATIONS,
    ROPE_STYLES,
    TFM_OPS,
    AddOp,
    ArgmaxOp,
    AttentionOp,
    EmbeddingOp,
    GeluOp,
    KvCacheOp,
    LinearOp,
    LogitsOp,
    MulOp,
    RmsNormOp,
    RopeOp,
    RowArgmaxOp,
    RowSampleOp,
    SampleOp,
    SiluOp,
    SoftcapOp,
    SoftmaxOp,
    WeightOp,
)

Transformer = Dialect("tfm", list(TFM_OPS), [])
"""The ``tfm`` dialect object, as registered in ``rusty_ir.dialects.DIALECTS``."""

__all__ = [
    "GELU_APPROXIMATIONS",
    "ROPE_STYLES",
    "AddOp",
    "ArgmaxOp",
    "AttentionOp",
    "EmbeddingOp",
    "GeluOp",
    "KvCacheOp",
    "LinearOp",
    "LogitsOp",
    "MulOp",
    "RmsNormOp",
    "RopeOp",
    "RowArgmaxOp",
    "RowSampleOp",
    "SampleOp",
    "SiluOp",
    "SoftcapOp",
    "SoftmaxOp",
    "Transformer",
    "WeightOp",
]
