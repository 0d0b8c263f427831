"""Ops of the ``dispatch`` dialect: host resources and kernel-sized regions."""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    I64,
    Float16Type,
    Float32Type,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    StringAttr,
    SymbolNameConstraint,
    SymbolRefAttr,
    TensorType,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    base,
    irdl_op_definition,
    lazy_traits_def,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import HasParent, IsolatedFromAbove, IsTerminator, Pure, SymbolOpInterface, SymbolTable
from xdsl.utils.exceptions import VerifyException

from rusty_ir.dialects.dispatch.attrs import LoweringConfigAttr
from rusty_ir.dialects.linalg_ext.ops import Q8_GROUP, kv_cache_buffer_type
from rusty_ir.dialects.quant.attrs import BlockQuantType, Q8_0Type, words_type


@irdl_op_definition
class WeightOp(IRDLOperation):
    """A tensor of the weight store, bound by name.

    Semantics: as ``tfm.weight``: the stored tensor ``weight_name`` (a template
    with one ``{}`` replaced by ``layer`` when that operand is present). Its
    type is a tensor at the tensor and dispatch levels and a memref once
    bufferized; a quantized weight stays quantized down to the kernel that
    reads it (the runtime binds the weight's raw bytes). Bufferized, a
    quantized weight is the words of its bytes (``memref<Wxi32>``, upstream
    memrefs taking only builtin element types) and ``stored`` is the tensor
    type they store (``rusty_ir.dialects.quant.storage``).

    With ``part`` (``codes`` or ``scales``) it is one buffer of the stored
    tensor in the split layout (``rusty_ir.weights.SplitLayout``), bound as
    words (scales: words or f16); ``stored`` is then the tensor's own
    (quantized) tensor type. The runtime makes the part from the stored bytes.

    Pipeline: made by ``convert-transformer-to-tensor``; ``rusty-bufferize``
    turns its type into a memref; ``weight-layout`` may replace it by its two
    parts; the host schedule lists it as a weight binding.

    Example:
        %wq = dispatch.weight "blk.{}.attn_q.weight"[%layer] : tensor<576x576x!rquant.q4_1>
        %wb = dispatch.weight "blk.{}.attn_q.weight"[%layer] {stored = tensor<576x576x!rquant.q4_1>} : memref<51840xi32>
        %codes = dispatch.weight "output.weight" {part = "codes", stored = tensor<49152x576x!rquant.q4_0>} : memref<3538944xi32>
    """

    name = "dispatch.weight"

    weight_name = prop_def(StringAttr)
    part = opt_prop_def(StringAttr)
    stored = opt_prop_def(TensorType)
    layer = opt_operand_def(IndexType)
    result = result_def(base(TensorType) | base(MemRefType))

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$weight_name (`[` $layer^ `]`)? attr-dict `:` type($result)"

    def __init__(self, weight_name: str, result_type: Attribute, layer: SSAValue | None = None, part: str | None = None,
                 stored: TensorType[Attribute] | None = None) -> None:  # fmt: skip
        props: dict[str, Attribute] = {"weight_name": StringAttr(weight_name)}
        if part is not None:
            props["part"] = StringAttr(part)
        if stored is not None:
            props["stored"] = stored
        super().__init__(
            operands=[[layer] if layer is not None else []],
            properties=props,
            result_types=[result_type],
        )

    def verify_(self) -> None:
        holes = self.weight_name.data.count("{}")
        if holes != (1 if self.layer is not None else 0):
            raise VerifyException(f"weight name '{self.weight_name.data}' must contain one '{{}}' exactly when a layer operand is given")
        ty = self.result.type
        assert isinstance(ty, TensorType | MemRefType)
        if any(d < 0 for d in ty.get_shape()):
            raise VerifyException(f"weight '{self.weight_name.data}' must have a static shape")
        if self.part is not None and self.stored is None:
            raise VerifyException("a weight part needs both 'part' and 'stored'")
        if isinstance(ty, MemRefType) and isinstance(ty.element_type, BlockQuantType):
            raise VerifyException(f"a bufferized quantized weight is the words of its bytes: {words_type(TensorType(ty.element_type, ty.get_shape()))} "
                                  f"{{stored = {TensorType(ty.element_type, ty.get_shape())}}}, not {ty}")  # fmt: skip
        if self.stored is not None and not isinstance(self.stored.element_type, BlockQuantType):
            raise VerifyException(f"'stored' must be a quantized tensor type, got {self.stored}")
        if self.part is None and self.stored is not None and ty != words_type(self.stored):
            raise VerifyException(f"a weight storing a {self.stored} is a {words_type(self.stored)}, not {ty}")
        if self.part is not None and (
            self.part.data not in ("codes", "scales") or not isinstance(ty, MemRefType) or ty.get_num_dims() != 1
        ):
            raise VerifyException("part must be 'codes' or 'scales', of a 1-D memref of words")


@irdl_op_definition
class KvCacheOp(IRDLOperation):
    """Declare the key/value cache: a K and a V buffer per layer.

    Semantics: a module-level symbol; each layer's K and V buffers hold one row
    of ``row_width`` values of ``element_type`` (f32 unless given; f16 halves
    the cache, ``!rquant.q8_0`` stores 8-bit codes and an f16 scale per 32
    values; rows of a multiple of 64 values) per position. The number of rows
    (the context length) is chosen by the runtime. ``element_type`` is what a
    row holds, not necessarily its buffers' element type: a q8_0 cache's
    buffers are the words of its rows (``buffer_type``). With ``block_size``
    B the cache is paged: positions are grouped in blocks of B rows, the
    buffers are pools of physical blocks, and the sequence's block table
    (``dispatch.block_table``) says which physical block holds each logical
    one, so the runtime hands blocks out as the sequence grows instead of
    sizing the cache for the whole context.

    Pipeline: made from ``tfm.kv_cache`` by ``convert-transformer-to-tensor``;
    the host schedule lists its buffers.

    Example:
        dispatch.kv_cache @kv {num_layers = 30 : i64, row_width = 192 : i64}
        dispatch.kv_cache @kv {num_layers = 30 : i64, row_width = 192 : i64, element_type = f16, block_size = 16 : i64}
        dispatch.kv_cache @kv8 {num_layers = 30 : i64, row_width = 192 : i64, element_type = !rquant.q8_0, block_size = 16 : i64}
    """

    name = "dispatch.kv_cache"

    sym_name = prop_def(SymbolNameConstraint())
    num_layers = prop_def(IntegerAttr[I64])
    row_width = prop_def(IntegerAttr[I64])
    element_type = opt_prop_def(Float32Type | Float16Type | Q8_0Type)
    block_size = opt_prop_def(IntegerAttr[I64])

    traits = traits_def(SymbolOpInterface(), HasParent(ModuleOp))
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$sym_name attr-dict"

    def __init__(
        self, sym_name: str, num_layers: int, row_width: int, element_type: Attribute | None = None, block_size: int | None = None
    ) -> None:
        props: dict[str, Attribute] = {
            "sym_name": StringAttr(sym_name),
            "num_layers": IntegerAttr(num_layers, i64),
            "row_width": IntegerAttr(row_width, i64),
        }
        if element_type is not None and not isinstance(element_type, Float32Type):
            props["element_type"] = element_type
        if block_size is not None:
            props["block_size"] = IntegerAttr(block_size, i64)
        super().__init__(properties=props)

    @property
    def cache_element_type(self) -> Attribute:
        """f32, f16 or !rquant.q8_0: what a cache row holds."""
        return self.element_type or Float32Type()

    @property
    def buffer_type(self) -> MemRefType:
        """The type of each layer's K and V buffer (``dispatch.cache``): ``memref<?xWxf32>``, ``memref<?xWxf16>``,
        or for q8_0 the words of its rows, ``memref<?x(W/4 + W/64)xi32>`` (``linalg_ext.kv_cache_buffer_type``)."""
        return kv_cache_buffer_type(self.cache_element_type, self.row_width.value.data)

    @property
    def paged_block_size(self) -> int | None:
        """Rows per block of a paged cache; None when the rows are contiguous."""
        return None if self.block_size is None else self.block_size.value.data

    def verify_(self) -> None:
        if self.num_layers.value.data <= 0 or self.row_width.value.data <= 0:
            raise VerifyException("num_layers and row_width must be positive")
        if self.block_size is not None and self.block_size.value.data <= 0:
            raise VerifyException(f"block_size must be positive, got {self.block_size.value.data}")
        if isinstance(self.cache_element_type, Q8_0Type) and self.row_width.value.data % Q8_GROUP:
            raise VerifyException(f"a q8_0 KV cache needs rows of a multiple of {Q8_GROUP} values, got {self.row_width.value.data}")


def _kv_cache_decl(op: Operation, cache: SymbolRefAttr) -> KvCacheOp:
    decl = SymbolTable.lookup_symbol(op, cache)
    if not isinstance(decl, KvCacheOp):
        raise VerifyException(f"'{cache}' does not name a dispatch.kv_cache")
    return decl


@irdl_op_definition
class CacheOp(IRDLOperation):
    """One layer's K or V cache buffer.

    Semantics: the buffer ``part`` ("k" or "v") of layer ``layer`` of the cache
    ``cache``, with one row per position, of the declaration's ``buffer_type``:
    ``memref<?xWxf32>`` (or ``xf16``) for a cache of f32 (f16) rows of ``W``
    values; for a q8_0 cache the words of its rows, ``memref<?x(W/4 + W/64)xi32>``
    (upstream memrefs take only builtin element types: the scheme is the
    declaration's ``element_type``, and the ``cache_element`` of the
    ``linalg_ext`` ops that take the buffer). It is a buffer from the tensor
    level on, so the ops that append to it and read it are ordered by their
    memory effects.

    Example:
        %kc = dispatch.cache @kv[%layer] {part = "k"} : memref<?x192xf32>
        %qc = dispatch.cache @kv8[%layer] {part = "v"} : memref<?x51xi32>    // element_type = !rquant.q8_0, row_width = 192
    """

    name = "dispatch.cache"

    cache = prop_def(SymbolRefAttr)
    part = prop_def(StringAttr)
    layer = operand_def(IndexType)
    result = result_def(MemRefType)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$cache `[` $layer `]` attr-dict `:` type($result)"

    def __init__(self, cache: str, part: str, layer: SSAValue, result_type: Attribute) -> None:
        super().__init__(
            operands=[layer],
            properties={"cache": SymbolRefAttr(cache), "part": StringAttr(part)},
            result_types=[result_type],
        )

    def verify_(self) -> None:
        if self.part.data not in ("k", "v"):
            raise VerifyException(f'part must be "k" or "v", got "{self.part.data}"')
        decl = _kv_cache_decl(self, self.cache)
        want = decl.buffer_type
        if self.result.type != want:
            words = ""
            if isinstance(decl.cache_element_type, Q8_0Type):
                words = f" (a q8_0 cache's buffers are the i32 words of its rows of {decl.row_width.value.data} values)"
            raise VerifyException(f"cache buffer must be {want}, got {self.result.type}{words}")


@irdl_op_definition
class BlockTableOp(IRDLOperation):
    """The block table of a paged KV cache, for the sequence being run.

    Semantics: an ``i32`` buffer; entry ``b`` is the physical block of the
    cache's pools that holds positions ``b * block_size .. (b + 1) * block_size - 1``
    of the sequence, in every layer. The runtime owns it: it hands out blocks as
    the sequence grows and writes the table before a step runs.

    Pipeline: made by ``convert-transformer-to-tensor`` for a paged cache; read
    by ``linalg_ext.cache_append``/``attention``; the host schedule lists it.

    Example:
        %table = dispatch.block_table @kv : memref<?xi32>
    """

    name = "dispatch.block_table"

    cache = prop_def(SymbolRefAttr)
    result = result_def(MemRefType(i32, [DYNAMIC_INDEX]))

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$cache attr-dict `:` type($result)"

    def __init__(self, cache: str) -> None:
        super().__init__(properties={"cache": SymbolRefAttr(cache)}, result_types=[MemRefType(i32, [DYNAMIC_INDEX])])

    def verify_(self) -> None:
        if _kv_cache_decl(self, self.cache).paged_block_size is None:
            raise VerifyException(f"'{self.cache}' is not paged (it has no block_size)")


STEP_CONFIGS = ("single_token_config", "few_token_config", "more_token_config")
"""``RegionOp``'s optional configs for steps of some token counts, beside ``config``: a pass that rebuilds a region
carries them over, and a region's signature leaves them out."""


@irdl_op_definition
class RegionOp(IRDLOperation):
    """A region that becomes exactly one GPU kernel.

    Semantics: runs its body on ``args`` (block arguments in the same order)
    and returns what ``dispatch.yield`` yields. The body is isolated from
    above: everything it reads is an argument, so it can be outlined as is.
    ``label`` names the kernel; ``config`` (set by ``tune-workgroups``) says how
    to lower it, and ``single_token_config``, when present, how to lower the
    version that runs steps of one token (decode): the region then becomes
    both kernels under a host ``scf.if`` on the step's token count.
    ``few_token_config``, when present beside it, lowers steps of 2 to
    ``GEMV_STEP_TOKENS`` tokens (speculative verification) instead of the
    single-token one: three versions, or, for a gemv whose workgroups take T
    tokens, one more per step size below T (``few_token_versions``).
    ``more_token_config``, only beside a ``few_token_config`` whose
    workgroups take T > 1 tokens, lowers the steps of T + 1 to
    ``GEMV_STEP_TOKENS`` tokens instead (the few-token one then takes
    steps of up to T), one version per step size likewise. The ops in the body still have tensor semantics; values that
    are memrefs (KV cache buffers) are read or written in place.

    Pipeline: made by ``form-dispatches``; consumed by ``convert-dispatch-to-tiled``.

    Example:
        %y = dispatch.region "add"(%a, %b) : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32> {
        ^bb0(%x: tensor<?x8xf32>, %z: tensor<?x8xf32>):
          ...
          dispatch.yield %s : tensor<?x8xf32>
        }
    """

    name = "dispatch.region"

    label = prop_def(StringAttr)
    config = opt_prop_def(LoweringConfigAttr)
    single_token_config = opt_prop_def(LoweringConfigAttr)
    few_token_config = opt_prop_def(LoweringConfigAttr)
    more_token_config = opt_prop_def(LoweringConfigAttr)
    args = var_operand_def()
    outputs = var_result_def()
    body = region_def("single_block")

    traits = traits_def(IsolatedFromAbove())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$label `(` $args `)` attr-dict `:` functional-type($args, $outputs) $body"

    def __init__(
        self,
        label: str,
        args: Sequence[SSAValue],
        result_types: Sequence[Attribute],
        body: Region | Block,
        config: LoweringConfigAttr | None = None,
    ) -> None:
        props: dict[str, Attribute] = {"label": StringAttr(label)}
        if config is not None:
            props["config"] = config
        region = body if isinstance(body, Region) else Region(body)
        super().__init__(operands=[args], result_types=[result_types], properties=props, regions=[region])

    @property
    def block(self) -> Block:
        return self.body.block

    def verify_(self) -> None:
        block = self.body.block
        if tuple(a.type for a in block.args) != tuple(a.type for a in self.args):
            raise VerifyException("block arguments must match the region's operands in number and type")
        term = block.last_op
        if not isinstance(term, YieldOp):
            raise VerifyException("body must end with dispatch.yield")
        if tuple(v.type for v in term.values) != tuple(r.type for r in self.outputs):
            raise VerifyException("dispatch.yield must yield the region's result types")


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Return the results of a ``dispatch.region``.

    Example: ``dispatch.yield %a, %b : tensor<?x8xf32>, tensor<?xf32>``
    """

    name = "dispatch.yield"

    values = var_operand_def()

    traits = lazy_traits_def(lambda: (IsTerminator(), HasParent(RegionOp)))
    assembly_format = "$values attr-dict (`:` type($values)^)?"

    def __init__(self, values: Sequence[SSAValue | Operation] = ()) -> None:
        super().__init__(operands=[values])


def region_ops(region: RegionOp) -> list[Operation]:
    """The ops of a region's body, terminator excluded."""
    return [op for op in region.block.ops if not isinstance(op, YieldOp)]


__all__ = ["STEP_CONFIGS", "BlockTableOp", "CacheOp", "KvCacheOp", "RegionOp", "WeightOp", "YieldOp", "region_ops"]
