"""The stand-in <metal_stdlib> accepts MSL and rejects what Metal would reject (so passing tests mean something).

Each negative case is a small kernel with one mistake next to the same kernel without
it: the fixed one must compile (the header accepts the construct) and the broken one
must not (clang's diagnostic is checked, so it fails for the stated reason).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from msl_harness import compile_kernels

HEADER = "#include <metal_stdlib>\nusing namespace metal;\n"
# A driver call as msl_harness generates it: buffers are passed as `device T*`.
GLUE = "void rusty_call(void* b) { scale((device float*)b, 2.0f, metal::uint3{0u, 0u, 0u}); }\n"


def kernel(param: str = "device float* x [[buffer(0)]]", body: str = "x[gid.x] = x[gid.x] * s;") -> str:
    return HEADER + f"kernel void scale({param}, float s, uint3 gid [[thread_position_in_grid]]) {{\n  {body}\n}}\n"


def compiles(tmp_path: Path, source: str, extra: str = GLUE) -> tuple[bool, str]:
    r = compile_kernels(source, tmp_path / f"k{abs(hash(source + extra))}.o", extra)
    return r.returncode == 0, r.stderr


def test_standin_accepts_the_constructs_the_emitter_and_metal_use(tmp_path: Path) -> None:
    source = (
        HEADER
        + """
kernel void all_of_it(device const half* h [[buffer(0)]], device float* out [[buffer(1)]],
                      uint3 lid [[thread_position_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]) {
  threadgroup float tile[64];
  const half2 pair = as_type<half2>(as_type<uint>(0x3c004000));
  const float4 v = float4(1.0f);
  tile[lid.x] = float(h[lid.x]) + float(pair.x) + v.w;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  const float total = simd_sum(tile[lid.x]);
  const float other = simd_shuffle(total, ushort(lane ^ 1u));
  out[lid.x] = select(rsqrt(total), max(other, 0.0f), lane > 3u) + pow(2.0f, 0.5f);
}
"""
    )
    ok, err = compiles(tmp_path, source, "")
    assert ok, err


@pytest.mark.parametrize(
    ("mistake", "param", "diagnostic"),
    [
        ("a kernel pointer without an address space", "float* x [[buffer(0)]]", "cannot pass pointer to address space"),
        ("the constant address space for a device buffer", "constant float* x [[buffer(0)]]", "cannot pass pointer to address space"),
        ("an int buffer bound as float", "device int* x [[buffer(0)]]", "no matching function"),
    ],
)
def test_address_space_mistakes_do_not_compile(tmp_path: Path, mistake: str, param: str, diagnostic: str) -> None:
    ok, err = compiles(tmp_path, kernel())
    assert ok, err
    bad, err = compiles(tmp_path, kernel(param=param))
    assert not bad, f"{mistake} compiled against the stand-in"
    assert diagnostic in err, err


@pytest.mark.parametrize(
    ("mistake", "body", "diagnostic"),
    [
        ("a WGSL let", "let y: f32 = x[gid.x];", "unknown type name 'let'"),
        ("a WGSL bitcast", "x[0] = float(bitcast<u32>(x[1]));", "bitcast"),
        ("a WGSL barrier", "workgroupBarrier();", "undeclared identifier 'workgroupBarrier'"),
        ("a WGSL workgroup variable", "var<workgroup> t: array<f32, 4>;", "undeclared identifier 'workgroup'"),
        ("a WGSL vector type", "vec3<u32> v = gid;", "vec3"),
        ("new (no dynamic allocation in Metal)", "float* p = new float[4]; x[0] = p[0];", "poisoned"),
        ("exceptions", "if (s < 0.0f) throw 1;", "poisoned"),
        ("goto", "goto done; done: x[0] = 1.0f;", "poisoned"),
        ("double (Metal has no double)", "double d = s; x[0] = float(d);", "poisoned"),
        ("the C++ standard library", "std::swap(x[0], x[1]);", "poisoned"),
        ("thread_local", "thread_local float t = 0.0f; x[0] = t;", "poisoned"),
    ],
)
def test_non_msl_code_does_not_compile(tmp_path: Path, mistake: str, body: str, diagnostic: str) -> None:
    bad, err = compiles(tmp_path, kernel(body=body))
    assert not bad, f"{mistake} compiled against the stand-in"
    assert diagnostic in err, err


def test_no_cxx_standard_headers(tmp_path: Path) -> None:
    bad, err = compiles(tmp_path, "#include <vector>\n" + kernel(), GLUE)
    assert not bad and "'vector' file not found" in err, err


def test_virtual_functions_do_not_compile(tmp_path: Path) -> None:
    bad, err = compiles(tmp_path, kernel() + "struct Shape { virtual float area() const { return 0.0f; } };\n")
    assert not bad and "poisoned" in err, err
