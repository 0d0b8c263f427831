"""Operations of the ``rquant`` dialect: converting between block-quantized and float tensors."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import DenseArrayBase, Float16Type, Float32Type, IndexType, MemRefType, StringAttr, TensorType, f32, i32, i64
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import (
    AttrSizedOperandSegments,
    IRDLOperation,
    IRDLOption,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from rusty_ir.dialects.quant.attrs import BlockQuantType, check_block_divisible, words_type
from rusty_ir.weights import K_QUANTS, SCHEMES, Scheme, split_layout

LAYOUTS = ("blocks", "split")
"""How a stored weight is bound: its blocks as stored (one buffer of words), or split into codes and scales
(two buffers; ``rusty_ir.weights.SplitLayout``)."""


def _check_same_shape(src: TensorType, dst: TensorType) -> None:
    if src.get_shape() != dst.get_shape():
        raise VerifyException(f"input shape {list(src.get_shape())} and result shape {list(dst.get_shape())} must be equal")


def _tensor_types(op: IRDLOperation, src: Attribute, dst: Attribute) -> tuple[TensorType, TensorType]:
    assert isinstance(src, TensorType) and isinstance(dst, TensorType), f"{op.name}: operands are constrained to tensors"
    return src, dst


@irdl_op_definition
class DequantizeOp(IRDLOperation):
    """Decode a block-quantized tensor into f32 values.

    Semantics: every block of ``scheme.block`` consecutive elements of a row is
    decoded with the scale (and minimum) stored in that block, exactly as
    ``rusty_ir.weights.dequantize`` does for the scheme named by the input's
    element type. Input and result have the same logical shape; the last
    dimension must be static and a multiple of the block size.

    Pipeline: produced by ``convert-transformer-to-tensor`` in front of every
    consumer of a quantized weight (matmul, gather); fusion passes then pull it
    into the consuming kernel so that weights stay quantized in GPU memory.

    Example:
        %wf = rquant.dequantize %w : tensor<1536x576x!rquant.q4_1> -> tensor<1536x576xf32>
    """

    name = "rquant.dequantize"

    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue | Operation, result_type: Attribute) -> None:
        super().__init__(operands=[input], result_types=[result_type])

    def verify_(self) -> None:
        src, dst = _tensor_types(self, self.input.type, self.result.type)
        if not isinstance(src.element_type, BlockQuantType):
            raise VerifyException(f"input element type must be a quant block type, got {src.element_type}")
        if not isinstance(dst.element_type, Float32Type):
            raise VerifyException(f"result element type must be f32, got {dst.element_type}")
        _check_same_shape(src, dst)
        check_block_divisible("input", src)


@irdl_op_definition
class QuantizeOp(IRDLOperation):
    """Encode f32 values into a block-quantized tensor.

    Semantics: each block of ``scheme.block`` consecutive elements of a row is
    encoded as ``rusty_ir.weights.quantize`` does (round to nearest code; the
    scale comes from the block's absolute maximum). Lossy: ``dequantize(quantize(x))``
    is ``x`` only up to the scheme's precision. The K-quants (``q2_k`` ..
    ``q6_k``) and ``iq4_nl`` can be read but not produced; quantizing to them
    fails at run time.

    Pipeline: not produced by the compiler today (weights arrive quantized);
    used to quantize f32 checkpoints and in tests.

    Example:
        %q = rquant.quantize %x : tensor<64x128xf32> -> tensor<64x128x!rquant.int8_g32>
    """

    name = "rquant.quantize"

    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue | Operation, result_type: Attribute) -> None:
        super().__init__(operands=[input], result_types=[result_type])

    def verify_(self) -> None:
        src, dst = _tensor_types(self, self.input.type, self.result.type)
        if not isinstance(src.element_type, Float32Type):
            raise VerifyException(f"input element type must be f32, got {src.element_type}")
        if not isinstance(dst.element_type, BlockQuantType):
            raise VerifyException(f"result element type must be a quant block type, got {dst.element_type}")
        _check_same_shape(src, dst)
        check_block_divisible("result", dst)


@irdl_op_definition
class ToTensorOp(IRDLOperation):
    """The quantized tensor whose stored bytes a buffer of words holds: ``bufferization.to_tensor`` for quantized weights.

    Semantics: ``result`` is the block-quantized tensor stored (little-endian,
    blocks as ``rusty_ir.weights`` lays them out) in the words of ``memref``,
    which must be exactly ``words_type`` of the result: ``memref<Wxi32>`` with
    ``W`` the stored bytes rounded up to whole words. Upstream memrefs take only
    builtin element types, so a bufferized quantized weight is such a buffer of
    words (``docs/quantization.md``, "Quantized buffers"); inside a region this
    op gives the tensor-level ops (``rquant.dequantize``) their quantized tensor back.

    Pipeline: made by ``rusty-bufferize`` for each quantized tensor operand of a
    ``dispatch.region``; ``convert-dispatch-to-tiled`` reads the weight through
    it (``rquant.load``...) and drops it with the region's body.

    Example:
        %wt = rquant.to_tensor %wb : memref<51840xi32> to tensor<576x576x!rquant.q4_1>
    """

    name = "rquant.to_tensor"

    memref = operand_def(MemRefType)
    tensor = result_def(TensorType)

    traits = traits_def(Pure())

    assembly_format = "$memref attr-dict `:` type($memref) `to` type($tensor)"

    def __init__(self, buffer: SSAValue | Operation, result_type: Attribute) -> None:
        super().__init__(operands=[buffer], result_types=[result_type])

    def verify_(self) -> None:
        ty = self.tensor.type
        assert isinstance(ty, TensorType)
        if not isinstance(ty.element_type, BlockQuantType):
            raise VerifyException(f"result element type must be a quant block type, got {ty.element_type}")
        check_block_divisible("result", ty)
        if not ty.has_static_shape():
            raise VerifyException("result must have a static shape")
        if self.memref.type != words_type(ty):
            raise VerifyException(f"a {ty} is stored in a {words_type(ty)}, not a {self.memref.type}")


KERNEL_BLOCK_K = 32
"""Values of a K-quant super-block (256) that ``rquant.load_block`` decodes at once: every kernel block of the GGUF
schemes is then 32 values, so contractions over weights of different GGUF schemes (a Q4_K_M layer's Q4_K keys and
Q6_K values) share one block size."""


def kernel_block(sch: Scheme) -> int:
    """Values ``rquant.load_block`` decodes at once: the scheme's block (32 values of a K-quant's super-block of 256),
    or for plain floats one 16-byte word group (8 halves, 4 floats)."""
    if sch.name in K_QUANTS:
        return KERNEL_BLOCK_K
    if sch.quantized:
        return sch.block
    return 16 // (2 if sch.name in ("f16", "bf16") else 4)


class _WeightLoad(IRDLOperation):
    """What ``rquant.load`` and ``rquant.load_block`` share: the weight's buffers, scheme, shape and layout."""

    buffers = var_operand_def(MemRefType)
    row = operand_def(IndexType)
    col = operand_def(IndexType)
    scheme_name = prop_def(StringAttr, prop_name="scheme")
    shape = prop_def(DenseArrayBase)
    layout = prop_def(StringAttr)

    irdl_options: tuple[IRDLOption, ...] = (ParsePropInAttrDict(),)
    """Not a ClassVar (IRDL refuses lower-case ones); typed so that ``rquant.dot_block`` may add its segment sizes."""

    @property
    def scheme(self) -> Scheme:
        return SCHEMES[self.scheme_name.data]

    @property
    def weight_shape(self) -> tuple[int, int]:
        rows, cols = (int(v) for v in self.shape.get_values())
        return rows, cols

    @staticmethod
    def _props(scheme: str, shape: Sequence[int], layout: str) -> dict[str, Attribute]:
        return {"scheme": StringAttr(scheme), "shape": DenseArrayBase.from_list(i64, list(shape)), "layout": StringAttr(layout)}

    def verify_(self) -> None:
        name, layout = self.scheme_name.data, self.layout.data
        sch = SCHEMES.get(name)
        if sch is None:
            raise VerifyException(f"scheme '{name}' cannot be read in a kernel (known: {', '.join(SCHEMES)})")
        if layout not in LAYOUTS:
            raise VerifyException(f"layout must be one of {', '.join(LAYOUTS)}, got '{layout}'")
        shape = tuple(self.shape.get_values())
        if len(shape) != 2 or min(shape) <= 0 or shape[1] % kernel_block(sch):
            raise VerifyException(f"shape must be [rows, K] with K a multiple of {kernel_block(sch)}, got {list(shape)}")
        want = 2 if layout == "split" else 1
        if len(self.buffers) != want:
            raise VerifyException(f"the {layout} layout reads {want} buffer(s), got {len(self.buffers)}")
        if layout == "split" and split_layout(sch) is None:
            raise VerifyException(f"{name} has no split layout")
        for i, buf in enumerate(self.buffers):
            ty = buf.type
            assert isinstance(ty, MemRefType)
            scales = layout == "split" and i == 1
            ok = ty.get_num_dims() == 1 and (ty.element_type == i32 or (scales and isinstance(ty.element_type, Float16Type)))
            if not ok:
                raise VerifyException(f"buffer #{i} must be a 1-D memref of i32 words{' or f16 scales' if scales else ''}, got {ty}")


@irdl_op_definition
class LoadOp(_WeightLoad):
    """One value of a stored weight, decoded: ``W[row, col]`` as f32.

    Semantics: the weight is a ``shape = [rows, K]`` tensor stored in
    ``scheme`` (``rusty_ir.weights``), bound as 32-bit words: its bytes as
    stored (``layout = "blocks"``), or as two buffers, codes and f16 scales
    (``"split"``, ``rusty_ir.weights.SplitLayout``; the scales buffer may be
    words or f16). The result is exactly ``rusty_ir.weights.dequantize``'s value.

    Pipeline: made by ``convert-dispatch-to-tiled`` where a kernel reads single
    weight values (a gather); ``weight-layout`` may switch it to ``split``;
    lowered by ``lower-quant-loads`` into word loads and bit arithmetic.

    Example:
        %v = rquant.load %w[%row, %col] {scheme = "q8_0", shape = array<i64: 49152, 576>, layout = "blocks"}
            : memref<7962624xi32> -> f32
    """

    name = "rquant.load"

    result = result_def(Float32Type)
    traits = traits_def(Pure())
    assembly_format = "$buffers `[` $row `,` $col `]` attr-dict `:` type($buffers) `->` type($result)"

    def __init__(
        self, buffers: Sequence[SSAValue], row: SSAValue, col: SSAValue, scheme: str, shape: Sequence[int], layout: str = "blocks"
    ) -> None:
        super().__init__(operands=[buffers, row, col], result_types=[f32], properties=self._props(scheme, shape, layout))


@irdl_op_definition
class LoadBlockOp(_WeightLoad):
    """One block of a stored weight, decoded as ``scale * q_j + offset`` (``j < kernel_block``).

    Semantics: as ``rquant.load`` for the ``kernel_block(scheme)`` values
    ``W[row, block * B + j]``, returned factored: ``scale``, ``offset`` and the
    codes ``q_j`` as f32 (Q4_0: ``nibble - 8`` and offset 0; Q4_1: ``nibble``,
    its scale and minimum; Q5_0: the 5-bit code ``- 16``; Q5_1: the 5-bit code,
    scale and minimum; IQ4_NL: the grid value ``IQ4_NL_VALUES[nibble]``; Q8_0
    and int8: signed bytes; int4: ``nibble - 8``; plain floats: the values with
    scale 1). A contraction multiplies codes and sums, then applies the block's
    scale once: ``sum_j x_j w_j = scale * sum_j x_j q_j + offset * sum_j x_j``.
    Only ``OFFSET_SCHEMES`` have a non-zero offset.

    K-quants decode 32 values (``KERNEL_BLOCK_K``) of a 256-value super-block
    per block index, ``block = super-block * 8 + i``: Q4_K, Q5_K: sub-block
    ``i``'s scale ``d * sc_i`` and offset ``-dmin * m_i`` (6-bit ``sc_i``,
    ``m_i`` unpacked from the 12 packed bytes), codes the 4- or 5-bit values;
    Q6_K, Q3_K (signed scales per 16 values): scale ``d`` and codes
    ``sc * q`` (exact integers), so both halves' scales are inside the codes;
    Q2_K (a scale and a minimum per 16 values): scale 1, offset 0 and codes
    the values ``d * sc * q - dmin * m``.

    Pipeline: made by ``convert-dispatch-to-tiled`` (contractions walking
    weight blocks); lowered by ``lower-quant-loads``.

    Example:
        %s, %o, %q:32 = rquant.load_block %codes, %scales[%row, %b] {scheme = "q4_0",
            shape = array<i64: 1536, 576>, layout = "split"} : memref<110592xi32>, memref<13824xi32> -> f32, f32, f32, ...
    """

    name = "rquant.load_block"

    scale = result_def(Float32Type)
    offset = result_def(Float32Type)
    values = var_result_def(Float32Type)
    traits = traits_def(Pure())
    assembly_format = "$buffers `[` $row `,` $col `]` attr-dict `:` type($buffers) `->` type($scale) `,` type($offset) `,` type($values)"

    def __init__(
        self, buffers: Sequence[SSAValue], row: SSAValue, block: SSAValue, scheme: str, shape: Sequence[int], layout: str = "blocks"
    ) -> None:
        count = kernel_block(SCHEMES[scheme])
        super().__init__(
            operands=[buffers, row, block], result_types=[f32, f32, [f32] * count], properties=self._props(scheme, shape, layout)
        )

    def verify_(self) -> None:
        super().verify_()
        if len(self.values) != kernel_block(self.scheme):
            raise VerifyException(
                f"{self.scheme.name} decodes blocks of {kernel_block(self.scheme)} values, got {len(self.values)} results"
            )


DOT_SCHEMES = ("q4_0", "q4_1", "q8_0", "int4_g32", "int4_g128", "int8_g32", "int8_g128")
"""Schemes whose codes ``rquant.dot_block`` multiplies as 8-bit integers (4-bit codes and signed bytes). The other
GGUF schemes (Q5_0, Q5_1, IQ4_NL, the K-quants) are read through ``rquant.load_block`` in float only."""

OFFSET_SCHEMES = ("q4_1", "q5_1", "q4_k", "q5_k")
"""Schemes whose ``rquant.load_block`` / ``rquant.dot_block`` offset may be non-zero (a block minimum): a
contraction adds ``offset * sum_j x_j`` for them only."""


@irdl_op_definition
class LoadCodesOp(_WeightLoad):
    """One block of a stored weight as its integer codes packed four to a word: for 8-bit dot products.

    Semantics: ``block / 4`` words; byte ``j % 4`` of word ``j / 4`` holds code
    ``c_j`` of ``W[row, block * B + j]`` as a signed byte, and value j =
    ``scale * c_j + offset``. 4-bit schemes give their nibble (0..15, so the
    zero point is inside ``offset``: Q4_0 ``-8 * scale``, Q4_1 its minimum),
    8-bit ones their signed byte (offset 0). A contraction against int8
    activations ``x_j ~ d * a_j`` takes ``d * (scale * sum_j c_j a_j + offset *
    sum_j a_j)`` from the block. Schemes: ``DOT_SCHEMES`` except IQ4_NL-like
    grids (none of them are in it).

    Pipeline: made by ``convert-dispatch-to-tiled`` for gemm configs with
    ``math = dp4a`` (the weight tile holds codes, not values); lowered by
    ``lower-quant-loads`` into word loads and masks.

    Example:
        %s, %o, %w:8 = rquant.load_codes %codes, %scales[%row, %b] {scheme = "q4_0",
            shape = array<i64: 4096, 4096>, layout = "split"} : memref<1048576xi32>, memref<524288xf16> -> f32, f32, i32, ...
    """

    name = "rquant.load_codes"

    scale = result_def(Float32Type)
    offset = result_def(Float32Type)
    words = var_result_def(i32)
    traits = traits_def(Pure())
    assembly_format = "$buffers `[` $row `,` $col `]` attr-dict `:` type($buffers) `->` type($scale) `,` type($offset) `,` type($words)"

    def __init__(
        self, buffers: Sequence[SSAValue], row: SSAValue, block: SSAValue, scheme: str, shape: Sequence[int], layout: str = "blocks"
    ) -> None:
        super().__init__(operands=[buffers, row, block], result_types=[f32, f32, [i32] * (SCHEMES[scheme].block // 4)],
                         properties=self._props(scheme, shape, layout))  # fmt: skip

    def verify_(self) -> None:
        super().verify_()
        sch = self.scheme
        if sch.name not in DOT_SCHEMES:
            raise VerifyException(f"rquant.load_codes reads {', '.join(DOT_SCHEMES)} codes, not {sch.name}")
        if len(self.words) * 4 != sch.block:
            raise VerifyException(f"a {sch.name} block of {sch.block} values packs into {sch.block // 4} words, got {len(self.words)}")


@irdl_op_definition
class DotBlockOp(_WeightLoad):
    """One block of a stored weight times a block of int8 activations: ``sum_j q_j a_j`` in integers.

    Semantics: ``scale``, ``offset`` and codes ``q_j`` are those of
    ``rquant.load_block`` (value j = ``scale * q_j + offset``); ``acts`` are
    ``block / 4`` words holding the activations ``a_j`` as signed bytes (byte
    ``j % 4`` of word ``j / 4``) and ``asum = sum_j a_j``. ``dot`` is ``sum_j
    q_j a_j`` exactly, so for activations ``x_j ~ d * a_j`` the block contributes
    ``d * (scale * dot + offset * asum)``. ``asum`` is an operand because it is
    the same for every weight row the activations meet: the caller computes it
    once. Schemes: ``DOT_SCHEMES``.

    Pipeline: made by ``convert-dispatch-to-tiled`` for gemv configs with
    ``math = dp4a``; lowered by ``lower-quant-loads`` into word loads, masks and
    ``rgpu.dot4_i8``.

    Example:
        %s, %o, %d = rquant.dot_block %codes, %scales[%row, %b], %a0, %a1, %a2, %a3, %a4, %a5, %a6, %a7 sum %asum
            {scheme = "q4_0", shape = array<i64: 4096, 4096>, layout = "split"}
            : memref<1048576xi32>, memref<524288xf16> -> f32, f32, i32
    """

    name = "rquant.dot_block"

    acts = var_operand_def(i32)
    asum = operand_def(i32)
    scale = result_def(Float32Type)
    offset = result_def(Float32Type)
    dot = result_def(i32)
    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(), AttrSizedOperandSegments(as_property=True))
    assembly_format = "$buffers `[` $row `,` $col `]` `,` $acts `sum` $asum attr-dict `:` type($buffers) `->` type($scale) `,` type($offset) `,` type($dot)"

    def __init__(self, buffers: Sequence[SSAValue], row: SSAValue, block: SSAValue, acts: Sequence[SSAValue], asum: SSAValue, scheme: str,
                 shape: Sequence[int], layout: str = "blocks") -> None:  # fmt: skip
        # IRDL orders a subclass's operands first: acts, asum, then the weight's buffers, row and block
        super().__init__(
            operands=[acts, asum, buffers, row, block], result_types=[f32, f32, i32], properties=self._props(scheme, shape, layout)
        )

    def verify_(self) -> None:
        super().verify_()
        sch = self.scheme
        if sch.name not in DOT_SCHEMES:
            raise VerifyException(f"rquant.dot_block multiplies {', '.join(DOT_SCHEMES)} codes, not {sch.name}")
        if len(self.acts) * 4 != sch.block:
            raise VerifyException(f"a {sch.name} block of {sch.block} values takes {sch.block // 4} activation words, got {len(self.acts)}")
