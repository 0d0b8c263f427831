"""The WGSL emitter's API: kernel interfaces, determinism, and located rejections."""

from __future__ import annotations

import json

import pytest
import wgsl_harness
from wgsl_harness import lit_program, parse

from rusty_ir.backends.runtime.kernel_abi import KernelInterface
from rusty_ir.backends.wgsl import emit_program, emit_wgsl, kernel_interfaces
from rusty_ir.errors import RustyError


def kernel(body: str, signature: str = "memref<?xf32>", args: str = "%x: memref<?xf32>", attrs: str = "", name: str = "k") -> str:
    block_size = "" if "no_block_size" in attrs else ", gpu.known_block_size = array<i32: 1, 1, 1>"
    kernel_prop = "" if "not_kernel" in attrs else ", kernel"
    return f"""
"gpu.module"() <{{sym_name = "m"}}> ({{
  "gpu.func"() <{{function_type = ({signature}) -> (){kernel_prop}}}> ({{
  ^bb0({args}):
    {body}
    "gpu.return"() : () -> ()
  }}) {{sym_name = "{name}"{block_size}}} : () -> ()
}}) : () -> ()
"""


def test_params_layout_follows_argument_order():
    (iface,) = lit_program("params.mlir").kernels
    assert [(b.binding, b.name, b.arg_index, b.access) for b in iface.buffers] == [(0, "out", 1, "read_write")]
    assert iface.params is not None and iface.params.binding == 1 and iface.params.size == 32
    fields = [(f.name, f.arg_index, f.type, f.offset, f.ir_type) for f in iface.params.fields]
    assert fields == [("n", 0, "i32", 0, "index"), ("k", 2, "i32", 4, "i32"), ("s", 3, "f32", 8, "f32"),
                      ("h", 4, "f32", 12, "f16"), ("flag", 5, "i32", 16, "i1")]  # fmt: skip
    packed = iface.params.pack({"n": 1, "k": -1, "s": 0.5, "h": 2.0, "flag": True})
    assert len(packed) == 32 and packed[4:8] == b"\xff\xff\xff\xff" and packed[16:20] == b"\x01\0\0\0"
    assert iface.uses_f16 and not iface.uses_subgroups
    with pytest.raises(ValueError, match="missing"):
        iface.params.pack({"n": 1})


def test_interface_round_trips_through_json():
    for iface in lit_program("kernels/q4-dot.mlir").kernels + lit_program("memory.mlir").kernels:
        assert KernelInterface.from_dict(json.loads(json.dumps(iface.to_dict()))) == iface
    q4 = lit_program("kernels/q4-dot.mlir").kernels[0]
    assert q4.workgroup_memory_bytes == 32 * 4 and q4.workgroup_size == (32, 1, 1)
    assert [b.element_type for b in q4.buffers] == ["i32", "f32", "f32"]


def test_output_is_deterministic_and_emitters_share_no_state():
    text = (wgsl_harness.LIT_DIR / "memory.mlir").read_text()
    first = emit_wgsl(parse(text))
    emit_wgsl(parse((wgsl_harness.LIT_DIR / "arith.mlir").read_text()))
    assert emit_wgsl(parse(text)) == first
    assert [k.name for k in kernel_interfaces(parse(text))] == ["matmul_rows", "rank3", "bswap", "reverse_tile", "private_array"]


def test_names_never_collide():
    # Two values with the same name hint in one scope, and a value hint that matches a builtin.
    body = """%c0 = arith.constant 0 : index
    %exp = memref.load %x[%c0] : memref<?xf32>
    %v = math.exp %exp : f32
    %v_1 = arith.addf %v, %v : f32
    memref.store %v_1, %x[%c0] : memref<?xf32>"""
    src = emit_wgsl(parse(kernel(body)))
    assert "let v_exp: f32 = k_x[0i];" in src and "let v_v: f32 = exp(v_exp);" in src
    assert "let v_v_1: f32 = v_v + v_v;" in src


@pytest.mark.parametrize(
    ("ir", "message"),
    [
        (kernel("", attrs="no_block_size"), "no gpu.known_block_size"),
        (kernel("", attrs="not_kernel"), "only kernels are printed"),
        (kernel("", signature="memref<4xf32, 3>", args="%x: memref<4xf32, 3>"), "must be in global memory"),
        (kernel("", signature="memref<?xi1>", args="%x: memref<?xi1>"), "cannot live in GPU memory"),
        (kernel("", name="fn"), "kernel name 'fn' is not a valid WGSL identifier"),
        (
            kernel(
                "%c0 = arith.constant 0 : index\n    %v = memref.load %x[%c0] : memref<?xf32>\n"
                "    %h = arith.truncf %v : f32 to f16\n    %e = math.erf %h : f16"
            ),
            "math.erf is printed for f32 only",
        ),
        (kernel("%a = memref.alloca() : memref<4xf32, 5>"), "memory space 5"),
        (kernel("%n = arith.constant 4 : index\n    %a = memref.alloca(%n) : memref<?xf32, 3>"), "need a static shape"),
        (kernel("%c = arith.constant 5000000000 : index"), "does not fit in 32 bits"),
        (kernel("%a = memref.alloc() : memref<4xf32>"), "cannot print this op, in 'memref.alloc'"),
    ],
)
def test_rejections_are_located(ir: str, message: str):
    with pytest.raises(RustyError, match=message) as info:
        emit_program(parse(ir))
    assert "gpu.module @m" in str(info.value)
    assert getattr(info.value, "op", None) is not None  # tools point at the op's source line


def test_duplicate_kernel_names_are_rejected():
    ir = kernel("") + kernel("").replace('sym_name = "m"', 'sym_name = "m2"')
    with pytest.raises(RustyError, match="two kernels are named @k"):
        emit_program(parse(ir))
