"""quantize-weights: store float weight matrices of a transformer-level module in a block-quantized scheme."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, FunctionType, ModuleOp, StringAttr, TensorType
from xdsl.ir import Attribute
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from rusty_ir.dialects.quant.attrs import block_quant_type, storage_scheme
from rusty_ir.dialects.transformer import LogitsOp, WeightOp
from rusty_ir.errors import RustyError
from rusty_ir.weights import QUANTIZE_TARGETS, check_quantizable, scheme

QUANTIZATION_ATTR = "tfm.quantization"
"""The module attribute ``quantize-weights`` records: ``{scheme = "q8_0", weights = ["blk.{}.attn_q.weight", ...]}``.

The weight names are those of the ``tfm.weight`` ops (``blk.{}`` templates for
layer weights); ``rusty_ir.weights.plan_from_templates`` expands them over a
checkpoint, and ``QuantizingStore`` quantizes exactly those tensors when the
runtime or the reference interpreter reads them.
"""


@dataclass(frozen=True)
class QuantizeWeightsPass(ModulePass):
    """Retypes float weight matrices as block-quantized weights and records which ones.

    Matches: every ``tfm.weight`` with a 2-D float result (f32, f16, bf16) that
    is a decoder-layer matrix (it has a layer operand) or, with ``head``, the
    LM head (the weight operand of ``tfm.logits``: ``output.weight``, or
    ``token_embd.weight`` when the embeddings are tied, which then is also
    read quantized by ``tfm.embedding``). Norms, biases and an untied embedding
    table stay as they are.

    Produces: the same ops with the element type replaced by the scheme's
    ``!rquant`` type; function signatures whose arguments receive those weights
    (``@decoder_layer``) follow. The module gets ``tfm.quantization =
    {scheme, weights}``. No tensor data is touched: the weights are quantized
    lazily, one tensor at a time, when ``QuantizingStore`` hands them to the
    runtime (see docs/quantization.md). The kernels decode the new types with
    the existing in-kernel block readers.

    Before: ``%wq = tfm.weight "blk.{}.attn_q.weight"[%l] : tensor<64x64xf16>``
    After:  ``%wq = tfm.weight "blk.{}.attn_q.weight"[%l] : tensor<64x64x!rquant.q8_0>``

    Pre-conditions: transformer-level IR (``build_module``). A weight that is
    already quantized (a GGUF Q4_1 checkpoint, or a second run of this pass)
    or whose rows are not a multiple of the scheme's block is an error naming it.

    Example: ``rusty-opt model.mlir -p 'quantize-weights{scheme=int4_g32}'``

    Not a pattern: it retypes values in place (no op replaced), then the callees' signatures, and records the names.
    """

    name = "quantize-weights"

    scheme: str = "q8_0"
    """Target scheme: q8_0 or q4_0 (GGUF blocks of 32, f16 scale), int4_g32 or int4_g128 (group-wise int4, f16 scale per group)."""

    head: bool = True
    """Also quantize the LM head (output.weight, or the tied token_embd.weight); false = keep it float."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.scheme not in QUANTIZE_TARGETS:
            raise RustyError(f"quantize-weights: unknown scheme '{self.scheme}' (known: {', '.join(QUANTIZE_TARGETS)})")
        target = scheme(self.scheme)
        elem = block_quant_type(self.scheme)
        # 1. The head: weights consumed by tfm.logits.
        heads = {o.weight.owner for o in op.walk() if isinstance(o, LogitsOp)} if self.head else set()
        # 2. Retype each selected weight (every op of a name: a tied table may be loaded more than once).
        names: list[str] = []
        for w in op.walk():
            if not isinstance(w, WeightOp) or (w.layer is None and w not in heads):
                continue
            ty = w.result.type
            assert isinstance(ty, TensorType)
            shape = tuple(ty.get_shape())
            if len(shape) != 2:
                continue
            source = storage_scheme(ty.element_type)
            weight_name = w.weight_name.data
            if source is None:
                raise RustyError(f"quantize-weights: weight '{weight_name}' has element type {ty.element_type}, not a storage scheme", w)
            try:
                check_quantizable(weight_name, source, shape, target)
            except ValueError as err:
                raise RustyError(f"quantize-weights: {err}", w) from None
            Rewriter.replace_value_with_new_type(w.result, TensorType(elem, shape))
            if weight_name not in names:
                names.append(weight_name)
        # 3. Callees take what their calls now pass.
        _retype_callees(op)
        op.attributes[QUANTIZATION_ATTR] = DictionaryAttr(
            {"scheme": StringAttr(self.scheme), "weights": ArrayAttr([StringAttr(n) for n in names])}
        )


def _retype_callees(module: ModuleOp) -> None:
    """Give each function the argument types its calls pass (a retyped weight flows into ``@decoder_layer``)."""
    funcs = {f.sym_name.data: f for f in module.walk() if isinstance(f, func.FuncOp)}
    for call in module.walk():
        if not isinstance(call, func.CallOp):
            continue
        callee = funcs.get(call.callee.root_reference.data)
        if callee is None or callee.body.blocks.first is None:
            continue
        block = callee.body.blocks.first
        new_inputs: list[Attribute] = []
        for operand, arg in zip(call.arguments, block.args, strict=True):
            if arg.type != operand.type:
                Rewriter.replace_value_with_new_type(arg, operand.type)
            new_inputs.append(operand.type)
        callee.function_type = FunctionType.from_lists(new_inputs, list(callee.function_type.outputs.data))


def quantization_templates(module: ModuleOp) -> dict[str, str]:
    """``{weight name or blk.{} template: scheme}`` that ``quantize-weights`` recorded on ``module`` (empty if it did not run)."""
    attr = module.attributes.get(QUANTIZATION_ATTR)
    if not isinstance(attr, DictionaryAttr):
        return {}
    sch = attr.data["scheme"]
    weights = attr.data["weights"]
    assert isinstance(sch, StringAttr) and isinstance(weights, ArrayAttr)
    return {w.data: sch.data for w in weights.data if isinstance(w, StringAttr)}
