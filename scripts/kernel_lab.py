"""Hand-written Q4_0 GEMV and GEMM variants, checked against numpy and timed: which schedule to generate.

This is a design probe, not part of the compiler: each variant is the kernel a
candidate schedule of the tiled level would produce (repacked Q4_0 weights:
16-byte code blocks apart from their f16 scales). It prints one line per
variant (time, GB/s or TFLOP/s, relative error) and a JSON file with all of it.

    python scripts/kernel_lab.py --small            # llvmpipe: small sizes, correctness
    python scripts/kernel_lab.py --out lab.json     # a GPU: the llama3-8b shapes
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from rusty_ir.backends.runtime.device import Device


def q4_0_random(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random Q4_0 weights [n, k]: codes (u32 words, 4 per block), f16 scales, and the float values."""
    nb = k // 32
    codes = rng.integers(0, 256, size=(n, nb, 16), dtype=np.uint8)
    scales = (rng.random((n, nb), dtype=np.float32) * 0.02 + 0.01).astype(np.float16)
    lo = (codes & 0xF).astype(np.float32) - 8
    hi = (codes >> 4).astype(np.float32) - 8
    values = np.concatenate([lo, hi], axis=2) * scales[..., None].astype(np.float32)
    return codes.view(np.uint32).reshape(-1), scales.reshape(-1), values.reshape(n, k)


# ---------------------------------------------------------------------------------------- GEMV

LANES = 32
"""Subgroup width the GEMV kernels assume (``--lanes``; llvmpipe's is 8 on AVX2)."""


def gemv_wgsl(n: int, k: int, rows: int, groups: int, split: int, unroll: int, conv: str) -> str:
    """y[n] = sum_k W[n, k] x[k]. A workgroup holds ``groups`` row groups of ``rows`` rows; each row group is
    ``split`` subgroups of 32 lanes that divide the blocks of K between them; a lane loads ``unroll``
    blocks (all of their loads first) per step; subgroupAdd per row, then the splits meet in workgroup memory."""
    nb = k // 32
    threads = LANES * groups * split
    shifts_lo = "vec4<u32>(0u, 8u, 16u, 24u)"
    shifts_hi = "vec4<u32>(4u, 12u, 20u, 28u)"

    def deq(word: str, shifts: str) -> str:
        q = f"((vec4<u32>({word}) >> {shifts}) & vec4<u32>(15u))"
        if conv == "magic":
            return f"(bitcast<vec4<f32>>({q} | vec4<u32>(0x4B000000u)) - vec4<f32>(8388616.0))"
        return f"(vec4<f32>({q}) - vec4<f32>(8.0))"

    body = []
    for u in range(unroll):
        body.append(f"    let b{u} = b + {u * LANES * split}u; let ok{u} = b{u} < {nb}u; let bb{u} = min(b{u}, {nb - 1}u);")
        body += [f"    let x{u}_{i} = x[bb{u} * 8u + {i}u];" for i in range(8)]
        for r in range(rows):
            body.append(f"    let c{u}_{r} = codes[n{r} * {nb}u + bb{u}];")
            body.append(f"    let s{u}_{r} = select(0.0, f32(scales[n{r} * {nb}u + bb{u}]), ok{u});")
    for u in range(unroll):
        for r in range(rows):
            terms = " + ".join(
                f"dot({deq(f'c{u}_{r}.{c}', shifts_lo)}, x{u}_{i}) + dot({deq(f'c{u}_{r}.{c}', shifts_hi)}, x{u}_{i + 4})"
                for i, c in enumerate("xyzw")
            )
            body.append(f"    acc{r} = fma(s{u}_{r}, {terms}, acc{r});")
    tail = [f"  let t{r} = subgroupAdd(acc{r});" for r in range(rows)]
    if split == 1:
        tail.append("  if (lane == 0u) {")
        tail += [f"    if (row0 + {r}u < {n}u) {{ y[row0 + {r}u] = t{r}; }}" for r in range(rows)]
        tail.append("  }")
        decls = ""
    else:
        decls = f"var<workgroup> part: array<f32, {groups * split * rows}>;"
        tail.append("  if (lane == 0u) {")
        tail += [f"    part[(g * {split}u + s) * {rows}u + {r}u] = t{r};" for r in range(rows)]
        tail.append("  }")
        tail.append("  workgroupBarrier();")
        tail.append(f"  if (s == 0u && lane < {rows}u && row0 + lane < {n}u) {{")
        tail.append("    var total = 0.0f;")
        tail.append(f"    for (var i = 0u; i < {split}u; i += 1u) {{ total += part[(g * {split}u + i) * {rows}u + lane]; }}")
        tail.append("    y[row0 + lane] = total;")
        tail.append("  }")
    return f"""enable f16;
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> codes: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> scales: array<f16>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
{decls}
@compute @workgroup_size({threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{
  let lane = lid.x % {LANES}u;
  let s = (lid.x / {LANES}u) % {split}u;
  let g = lid.x / {LANES * split}u;
  let row0 = (wid.x * {groups}u + g) * {rows}u;
{chr(10).join(f"  let n{r} = min(row0 + {r}u, {n - 1}u);" for r in range(rows))}
{chr(10).join(f"  var acc{r} = 0.0f;" for r in range(rows))}
  for (var b = s * {LANES}u + lane; b < {nb}u; b += {LANES * split * unroll}u) {{
{chr(10).join(body)}
  }}
{chr(10).join(tail)}
}}
"""


def quantize_x_q8(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x in blocks of 32 as int8 with one f32 scale each (llama.cpp's Q8_1 idea): packed words, (d, 8 d sum q) per
    block, and the dequantized values."""
    blocks = x.reshape(-1, 32).astype(np.float32)
    amax = np.abs(blocks).max(axis=1)
    d = amax / 127.0
    inv = np.where(amax > 0, 127.0 / np.where(amax > 0, amax, 1), 0).astype(np.float32)
    q = np.round(blocks * inv[:, None]).astype(np.int8)
    dv = np.stack([d, 8 * d * q.astype(np.float32).sum(axis=1)], axis=1).astype(np.float32)
    return q.view(np.uint32).reshape(-1), dv.reshape(-1), (q.astype(np.float32) * d[:, None]).reshape(-1)


def gemv_dp4a_wgsl(n: int, k: int, rows: int, groups: int, split: int, unroll: int, xmode: str) -> str:
    """The GEMV with x as int8 blocks and 4-wide integer dot products (``dot4I8Packed``) against the Q4_0 nibbles.
    ``xmode``: ``pre`` reads x already quantized (words + per-block (d, 8 d sum)); ``shared`` reads f32 x and
    quantizes it into workgroup memory first (one block per invocation per step)."""
    nb = k // 32
    threads = LANES * groups * split
    m = "0x0F0F0F0Fu"
    body = []
    for u in range(unroll):
        body.append(f"    let b{u} = b + {u * LANES * split}u; let ok{u} = b{u} < {nb}u; let bb{u} = min(b{u}, {nb - 1}u);")
        body.append(f"    let xl{u} = XQ[bb{u} * 2u]; let xh{u} = XQ[bb{u} * 2u + 1u]; let xd{u} = XD[bb{u}];")
        for r in range(rows):
            body.append(f"    let c{u}_{r} = codes[n{r} * {nb}u + bb{u}];")
            body.append(f"    let s{u}_{r} = select(0.0, f32(scales[n{r} * {nb}u + bb{u}]), ok{u});")
    for u in range(unroll):
        for r in range(rows):
            terms = " + ".join(
                f"dot4I8Packed(c{u}_{r}.{c} & {m}, xl{u}.{c}) + dot4I8Packed((c{u}_{r}.{c} >> 4u) & {m}, xh{u}.{c})" for c in "xyzw"
            )
            body.append(f"    acc{r} = fma(s{u}_{r}, fma(xd{u}.x, f32({terms}), -xd{u}.y), acc{r});")
    tail = [f"  let t{r} = subgroupAdd(acc{r});" for r in range(rows)]
    decls = []
    if split == 1:
        tail.append("  if (lane == 0u) {")
        tail += [f"    if (row0 + {r}u < {n}u) {{ y[row0 + {r}u] = t{r}; }}" for r in range(rows)]
        tail.append("  }")
    else:
        decls.append(f"var<workgroup> part: array<f32, {groups * split * rows}>;")
        tail.append("  if (lane == 0u) {")
        tail += [f"    part[(g * {split}u + s) * {rows}u + {r}u] = t{r};" for r in range(rows)]
        tail.append("  }")
        tail.append("  workgroupBarrier();")
        tail.append(f"  if (s == 0u && lane < {rows}u && row0 + lane < {n}u) {{")
        tail.append("    var total = 0.0f;")
        tail.append(f"    for (var i = 0u; i < {split}u; i += 1u) {{ total += part[(g * {split}u + i) * {rows}u + lane]; }}")
        tail.append("    y[row0 + lane] = total;")
        tail.append("  }")
    if xmode == "pre":
        binds = (
            "@group(0) @binding(0) var<storage, read> XQ: array<vec4<i32>>;\n@group(0) @binding(4) var<storage, read> XD: array<vec2<f32>>;"
        )
        prologue = ""
    else:
        binds = "@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;"
        decls.append(f"var<workgroup> XQ: array<vec4<i32>, {2 * nb}>;\nvar<workgroup> XD: array<vec2<f32>, {nb}>;")
        prologue = f"""  for (var qb = lid.x; qb < {nb}u; qb += {threads}u) {{
    var v: array<vec4<f32>, 8>;
    var amax = vec4<f32>(0.0);
    for (var i = 0u; i < 8u; i += 1u) {{ v[i] = x[qb * 8u + i]; amax = max(amax, abs(v[i])); }}
    let a = max(max(amax.x, amax.y), max(amax.z, amax.w));
    let inv = select(0.0, 127.0 / a, a > 0.0);
    var w: array<i32, 8>;
    var total = 0;
    for (var i = 0u; i < 8u; i += 1u) {{
      w[i] = bitcast<i32>(pack4xI8(vec4<i32>(round(v[i] * inv))));
      total += dot4I8Packed(bitcast<u32>(w[i]), 0x01010101u);
    }}
    XQ[qb * 2u] = vec4<i32>(w[0], w[1], w[2], w[3]);
    XQ[qb * 2u + 1u] = vec4<i32>(w[4], w[5], w[6], w[7]);
    XD[qb] = vec2<f32>(a / 127.0, 8.0 * (a / 127.0) * f32(total));
  }}
  workgroupBarrier();
"""
    body_s = "\n".join(body).replace("XQ[", "bitcast<vec4<u32>>(XQ[").replace("* 2u];", "* 2u]);").replace("* 2u + 1u];", "* 2u + 1u]);")
    return f"""enable f16;
{binds}
@group(0) @binding(1) var<storage, read> codes: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> scales: array<f16>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
{chr(10).join(decls)}
@compute @workgroup_size({threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{
{prologue}  let lane = lid.x % {LANES}u;
  let s = (lid.x / {LANES}u) % {split}u;
  let g = lid.x / {LANES * split}u;
  let row0 = (wid.x * {groups}u + g) * {rows}u;
{chr(10).join(f"  let n{r} = min(row0 + {r}u, {n - 1}u);" for r in range(rows))}
{chr(10).join(f"  var acc{r} = 0.0f;" for r in range(rows))}
  for (var b = s * {LANES}u + lane; b < {nb}u; b += {LANES * split * unroll}u) {{
{body_s}
  }}
{chr(10).join(tail)}
}}
"""


# ---------------------------------------------------------------------------------------- GEMM


def store_tile(add, m: int, n: int, bm: int, bn: int) -> None:
    """The GEMMs' epilogue: each invocation's (bm/16 x bn/16) register tile ``acc{r}_{c}`` (vec4s of columns) into Y."""
    tm, tn = bm // 16, bn // 16
    gm, gn = tm // 4, tn // 4
    for r in range(tm):
        add(f"  {{ let row = m0 + {(r // 4) * bm // gm}u + ty * 4u + {r % 4}u;")
        add(f"    if (row < {m}u) {{")
        for c in range(gn):
            add(f"      {{ let col = n0 + {c * bn // gn}u + tx * 4u;")
            for e in range(4):
                add(f"        if (col + {e}u < {n}u) {{ Y[row * {n}u + col + {e}u] = acc{r}_{c}[{e}]; }}")
            add("      }")
        add("    }")
        add("  }")


def gemm_wgsl(m: int, n: int, k: int, bm: int, bn: int, bk: int, math: str, unroll: bool) -> str:
    """Y[m, n] = sum_k X[m, k] W[n, k]: a (bm x bn) tile per workgroup of 256 invocations (16 x 16), a
    (bm/16 x bn/16) register tile per invocation (groups of 4 rows/columns, bm/4 and bn/4 apart... see
    below), K in steps of ``bk`` (whole Q4_0 blocks): the X tile staged transposed [k][m], the weight tile
    dequantized once into [k][n]; the next step's global loads are issued before this step's arithmetic.
    ``math``: f32, or f16 (f16 tiles, vec4<f16> FMAs over one step, f32 accumulators); ``unroll``: the
    k loop of a step written out."""
    nb = k // 32
    tm, tn = bm // 16, bn // 16
    gm, gn = tm // 4, tn // 4  # vec4 groups per invocation along m and n, bm / gm and bn / gn apart
    elem = "f16" if math == "f16" else "f32"
    a_loads = bm * bk // 4 // 256
    parts = 256 // bn  # invocations per weight row per step
    per = bk // parts  # values of a row each stages
    lines: list[str] = []
    add = lines.append
    add("enable f16;")
    add("@group(0) @binding(0) var<storage, read> X: array<vec4<f32>>;")
    add("@group(0) @binding(1) var<storage, read> codes: array<vec4<u32>>;")
    add("@group(0) @binding(2) var<storage, read> scales: array<f16>;")
    add("@group(0) @binding(3) var<storage, read_write> Y: array<f32>;")
    add(f"var<workgroup> As: array<vec4<{elem}>, {bk * bm // 4}>;")
    add(f"var<workgroup> Bs: array<vec4<{elem}>, {bk * bn // 4}>;")
    add("@compute @workgroup_size(256)")
    add("fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {")
    add("  let t = lid.x; let tx = t % 16u; let ty = t / 16u;")
    add(f"  let n0 = wid.x * {bn}u; let m0 = wid.y * {bm}u;")
    for i in range(a_loads):
        add(f"  let ar{i} = (t + {256 * i}u) % {bm}u; let aq{i} = (t + {256 * i}u) / {bm}u;")
        add(f"  let arow{i} = min(m0 + ar{i}, {m - 1}u);")
    add(f"  let bcol = t % {bn}u; let bpart = t / {bn}u; let brow = min(n0 + bcol, {n - 1}u);")
    nblk = max(1, per // 32)

    def global_loads(kb: str) -> None:
        for i in range(a_loads):
            add(f"    let pa{i} = X[arow{i} * {k // 4}u + {kb} * {bk // 4}u + aq{i}];")
        for i in range(nblk):
            blk = f"{kb} * {bk // 32}u + (bpart * {per}u) / 32u + {i}u"
            add(f"    let pc{i} = codes[brow * {nb}u + {blk}];")
            add(f"    let ps{i} = f32(scales[brow * {nb}u + {blk}]);")

    def stage() -> None:
        for i in range(a_loads):
            for c in range(4):
                add(f"    As[(aq{i} * 4u + {c}u) * {bm // 4}u + ar{i} / 4u][ar{i} % 4u] = {elem}(pa{i}[{c}]);")
        for j in range(per):
            bi = j // 32 if per >= 32 else 0
            add(f"    {{ let e = bpart * {per}u + {j}u; let w = (e % 32u) % 16u; let word = pc{bi}[w / 4u];")
            add("      let q = (word >> ((w % 4u) * 8u + ((e % 32u) / 16u) * 4u)) & 15u;")
            add(f"      Bs[e * {bn // 4}u + bcol / 4u][bcol % 4u] = {elem}(ps{bi} * (f32(q) - 8.0)); }}")

    def step(kk: str) -> None:
        for g in range(gm):
            add(f"      let a{g} = As[{kk} * {bm // 4}u + {g * bm // (4 * gm)}u + ty];")
        for g in range(gn):
            add(f"      let b{g} = Bs[{kk} * {bn // 4}u + {g * bn // (4 * gn)}u + tx];")
        for r in range(tm):
            a = f"a{r // 4}[{r % 4}]"
            for c in range(gn):
                if math == "f16":
                    add(f"      h{r}_{c} = fma(vec4<f16>({a}), b{c}, h{r}_{c});")
                else:
                    add(f"      acc{r}_{c} = fma(vec4<f32>({a}), b{c}, acc{r}_{c});")

    for r in range(tm):
        for c in range(gn):
            add(f"  var acc{r}_{c} = vec4<f32>(0.0);")
    add("  {")
    global_loads("0u")
    stage()
    add("  }")
    add("  workgroupBarrier();")
    steps = k // bk
    add(f"  for (var kb = 0u; kb < {steps}u; kb += 1u) {{")
    add(f"    let kn = min(kb + 1u, {steps - 1}u);")
    global_loads("kn")
    if math == "f16":
        for r in range(tm):
            for c in range(gn):
                add(f"    var h{r}_{c} = vec4<f16>(0.0h);")
    if unroll:
        for kk in range(bk):
            add("    {")
            step(f"{kk}u")
            add("    }")
    else:
        add(f"    for (var kk = 0u; kk < {bk}u; kk += 1u) {{")
        step("kk")
        add("    }")
    if math == "f16":
        for r in range(tm):
            for c in range(gn):
                add(f"    acc{r}_{c} += vec4<f32>(h{r}_{c});")
    add("    workgroupBarrier();")
    add(f"    if (kb + 1u < {steps}u) {{")
    stage()
    add("    }")
    add("    workgroupBarrier();")
    add("  }")
    store_tile(add, m, n, bm, bn)
    add("}")
    return "\n".join(lines) + "\n"


def gemm_dp4a_wgsl(m: int, n: int, k: int, bm: int, bn: int, blocks: int) -> str:
    """Y[m, n] = sum_k X[m, k] W[n, k] on 8-bit integer dot products: X already quantized in blocks of 32 (int8
    words, per block (d, 8 d sum q): ``quantize_x_q8``), W's Q4_0 codes kept as 4-bit unsigned bytes (the 8 of
    the code's offset is the ``8 d sum q`` term). A (bm x bn) tile per workgroup of 256 invocations (16 x 16),
    a (bm/16 x bn/16) register tile, ``blocks`` blocks of 32 per step. Workgroup memory holds the tile's words
    ([word][m] and [word][n], four rows or columns per vector), the rows' (d, 8 d sum) and the columns' scales;
    per block each invocation sums 8 DP4As per output in i32, then one f32 multiply-add per output."""
    nb = k // 32
    tm, tn = bm // 16, bn // 16
    gm, gn = tm // 4, tn // 4
    bw = 8 * blocks  # words per row per step
    lines: list[str] = []
    add = lines.append
    add("enable f16;")
    add("@group(0) @binding(0) var<storage, read> XQ: array<vec4<u32>>;")
    add("@group(0) @binding(1) var<storage, read> XD: array<vec2<f32>>;")
    add("@group(0) @binding(2) var<storage, read> codes: array<vec4<u32>>;")
    add("@group(0) @binding(3) var<storage, read> scales: array<f16>;")
    add("@group(0) @binding(4) var<storage, read_write> Y: array<f32>;")
    add(f"var<workgroup> As: array<vec4<u32>, {bw * bm // 4}>;")
    add(f"var<workgroup> Ad: array<vec4<f32>, {blocks * bm // 4}>;")
    add(f"var<workgroup> Ao: array<vec4<f32>, {blocks * bm // 4}>;")
    add(f"var<workgroup> Bs: array<vec4<u32>, {bw * bn // 4}>;")
    add(f"var<workgroup> Bd: array<vec4<f32>, {blocks * bn // 4}>;")
    add("@compute @workgroup_size(256)")
    add("fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {")
    add("  let t = lid.x; let tx = t % 16u; let ty = t / 16u;")
    add(f"  let n0 = wid.x * {bn}u; let m0 = wid.y * {bm}u;")
    a_units = bm * 2 * blocks  # half-blocks (4 words) of X per step
    b_units = bn * blocks  # code blocks (4 words) of W per step
    a_per = -(-a_units // 256)
    b_per = -(-b_units // 256)

    def global_loads(kb: str) -> None:
        for i in range(a_per):
            add(f"    let au{i} = min(t + {256 * i}u, {a_units - 1}u); let ar{i} = au{i} % {bm}u; let ah{i} = au{i} / {bm}u;")
            add(f"    let arow{i} = min(m0 + ar{i}, {m - 1}u); let ab{i} = {kb} * {blocks}u + ah{i} / 2u;")
            add(f"    let pa{i} = XQ[(arow{i} * {nb}u + ab{i}) * 2u + ah{i} % 2u];")
            add(f"    let pd{i} = XD[arow{i} * {nb}u + ab{i}];")
        for i in range(b_per):
            add(f"    let bu{i} = min(t + {256 * i}u, {b_units - 1}u); let bc{i} = bu{i} % {bn}u; let bb{i} = bu{i} / {bn}u;")
            add(f"    let brow{i} = min(n0 + bc{i}, {n - 1}u); let bblk{i} = {kb} * {blocks}u + bb{i};")
            add(f"    let pc{i} = codes[brow{i} * {nb}u + bblk{i}];")
            add(f"    let ps{i} = f32(scales[brow{i} * {nb}u + bblk{i}]);")

    def stage() -> None:
        for i in range(a_per):
            add(f"    if (t + {256 * i}u < {a_units}u) {{")
            for c in range(4):
                add(f"      As[(ah{i} * 4u + {c}u) * {bm // 4}u + ar{i} / 4u][ar{i} % 4u] = pa{i}[{c}];")
            add(
                f"      if (ah{i} % 2u == 0u) {{ Ad[(ah{i} / 2u) * {bm // 4}u + ar{i} / 4u][ar{i} % 4u] = pd{i}.x;"
                f" Ao[(ah{i} / 2u) * {bm // 4}u + ar{i} / 4u][ar{i} % 4u] = pd{i}.y; }}"
            )
            add("    }")
        for i in range(b_per):
            add(f"    if (t + {256 * i}u < {b_units}u) {{")
            for c in range(4):
                add(f"      Bs[(bb{i} * 8u + {c}u) * {bn // 4}u + bc{i} / 4u][bc{i} % 4u] = pc{i}[{c}] & 0x0F0F0F0Fu;")
                add(f"      Bs[(bb{i} * 8u + {c + 4}u) * {bn // 4}u + bc{i} / 4u][bc{i} % 4u] = (pc{i}[{c}] >> 4u) & 0x0F0F0F0Fu;")
            add(f"      Bd[bb{i} * {bn // 4}u + bc{i} / 4u][bc{i} % 4u] = ps{i};")
            add("    }")

    for r in range(tm):
        for c in range(gn):
            add(f"  var acc{r}_{c} = vec4<f32>(0.0);")
    add("  {")
    global_loads("0u")
    stage()
    add("  }")
    add("  workgroupBarrier();")
    steps = nb // blocks
    add(f"  for (var kb = 0u; kb < {steps}u; kb += 1u) {{")
    add(f"    let kn = min(kb + 1u, {steps - 1}u);")
    global_loads("kn")
    for blk in range(blocks):
        add("    {")
        for r in range(tm):
            for c in range(gn):
                add(f"      var s{r}_{c} = vec4<i32>(0);")
        for w in range(8):
            add("      {")
            word = blk * 8 + w
            for g in range(gm):
                add(f"        let a{g} = As[{word * bm // 4}u + {g * bm // (4 * gm)}u + ty];")
            for g in range(gn):
                add(f"        let b{g} = Bs[{word * bn // 4}u + {g * bn // (4 * gn)}u + tx];")
            for r in range(tm):
                a = f"a{r // 4}[{r % 4}]"
                for c in range(gn):
                    add(
                        f"        s{r}_{c} += vec4<i32>(dot4I8Packed({a}, b{c}.x), dot4I8Packed({a}, b{c}.y), "
                        f"dot4I8Packed({a}, b{c}.z), dot4I8Packed({a}, b{c}.w));"
                    )
            add("      }")
        for g in range(gm):
            add(f"      let d{g} = Ad[{blk * bm // 4}u + {g * bm // (4 * gm)}u + ty];")
            add(f"      let o{g} = Ao[{blk * bm // 4}u + {g * bm // (4 * gm)}u + ty];")
        for g in range(gn):
            add(f"      let sc{g} = Bd[{blk * bn // 4}u + {g * bn // (4 * gn)}u + tx];")
        for r in range(tm):
            for c in range(gn):
                add(f"      acc{r}_{c} += sc{c} * (vec4<f32>(s{r}_{c}) * d{r // 4}[{r % 4}] - o{r // 4}[{r % 4}]);")
        add("    }")
    add("    workgroupBarrier();")
    add(f"    if (kb + 1u < {steps}u) {{")
    stage()
    add("    }")
    add("    workgroupBarrier();")
    add("  }")
    store_tile(add, m, n, bm, bn)
    add("}")
    return "\n".join(lines) + "\n"


def run_gemm_dp4a(lab: Lab, m: int, n: int, k: int, variants, reps: int, rng) -> list[dict]:
    codes, scales, values = q4_0_random(rng, n, k)
    x = rng.standard_normal((m, k)).astype(np.float32)
    xq, xd, xdeq = quantize_x_q8(x)
    ref = x.astype(np.float64) @ values.astype(np.float64).T
    ref_q = xdeq.reshape(m, k).astype(np.float64) @ values.astype(np.float64).T
    bufs = [lab.dev.buffer(a) for a in (xq, xd, codes, scales)]
    y = lab.dev.empty(4 * m * n)
    out = []
    for bm, bn, blocks in variants:
        label = f"gemm-dp4a {m}x{n}x{k} tile={bm}x{bn}x{32 * blocks}"
        p = lab.try_pipeline(gemm_dp4a_wgsl(m, n, k, bm, bn, blocks), label)
        if p is None:
            continue
        g = lab.group(p, [*bufs, y])
        grid = (-(-n // bn), -(-m // bm), 1)
        lab.dev.write(y, np.full(m * n, np.nan, np.float32))
        lab.time(p, [g], grid, 1)
        got = lab.dev.read(y, np.float32, m * n).reshape(m, n).astype(np.float64)
        err, errq = rel_err(got, ref), rel_err(got, ref_q)
        t = lab.time(p, [g], grid, reps)
        tflops = 2 * m * n * k / t / 1e12
        print(f"{label:66s} {t * 1e6:9.1f} us {tflops:8.2f} TFLOP/s  err {err:.1e} (vs q8 x {errq:.1e})", flush=True)
        out.append(
            {
                "kernel": "gemm-dp4a",
                "m": m,
                "n": n,
                "k": k,
                "bm": bm,
                "bn": bn,
                "blocks": blocks,
                "us": t * 1e6,
                "TFLOPs": tflops,
                "rel_err": err,
                "rel_err_q8": errq,
            }
        )
    return out


def peak_wgsl(elem: str, width: int, chains: int, iterations: int, unroll: int) -> str:
    """``chains`` independent ``vec<width><elem>`` fma chains per invocation (width 1: scalars), ``unroll``
    copies of the chain step per loop iteration."""
    ty = elem if width == 1 else f"vec{width}<{elem}>"
    init = "\n".join(f"  var a{i} = {ty}(seed + {elem}({i + 1}));" for i in range(chains))
    step = "\n".join(f"    a{i} = fma(a{i}, m, c);" for i in range(chains))
    total = " + ".join(f"a{i}" for i in range(chains))
    check = "t" if width == 1 else " + ".join(f"t[{j}]" for j in range(width))
    body = "\n".join([step] * unroll)
    return f"""{"enable f16;" if elem == "f16" else ""}
@group(0) @binding(0) var<storage, read_write> sink: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
  let seed = {elem}(gid.x & 7u) * {elem}(0.125);
  let m = {ty}({elem}(0.5));
  let c = {ty}({elem}(0.25));
{init}
  for (var i = 0u; i < {iterations}u; i += 1u) {{
{body}
  }}
  let t = {total};
  if (f32({check}) == -1.0) {{ sink[0] = f32({check}); }}
}}
"""


DP4A_STEPS = {"dp4a": "dot4I8Packed(a{i}, m) + c", "dp4a-bare": "dot4I8Packed(a{i}, m)", "dp4a-xor": "dot4I8Packed(a{i}, m) ^ c"}
"""A dp4a chain's step by ``elem``: with an add (one DP4A with its accumulator, where the compiler fuses them), alone,
or with an xor (which cannot fuse): whether a generated kernel's sum of dot products costs issue slots of its own."""


def dp4a_peak_wgsl(chains: int, iterations: int, unroll: int, elem: str = "dp4a") -> str:
    """``chains`` independent chains of ``a = DP4A_STEPS[elem]`` per invocation (each step one DP4A where the GPU
    has it: four 8-bit multiply-adds), ``unroll`` steps per loop iteration."""
    init = "\n".join(f"  var a{i} = seed + {i + 1}u;" for i in range(chains))
    step = "\n".join(f"    a{i} = bitcast<u32>({DP4A_STEPS[elem].format(i=i)});" for i in range(chains))
    total = " + ".join(f"a{i}" for i in range(chains))
    body = "\n".join([step] * unroll)
    return f"""@group(0) @binding(0) var<storage, read_write> sink: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {{
  let seed = gid.x & 7u;
  let m = 0x01ff0201u + (gid.x >> 20u);
  let c = i32(gid.x >> 24u) + 3;
{init}
  for (var i = 0u; i < {iterations}u; i += 1u) {{
{body}
  }}
  let t = {total};
  if (t == 12345u) {{ sink[0] = f32(t); }}
}}
"""


def run_peak(lab: Lab, variants, workgroups: int, reps: int) -> list[dict]:
    """FMA throughput of each (elem, width, chains, iterations, unroll) variant, timed by timestamps."""
    sink = lab.dev.empty(16)
    out = []
    for elem, width, chains, iterations, unroll in variants:
        label = f"peak {elem} vec{width} chains={chains} iters={iterations} unroll={unroll} wg={workgroups}"
        if elem == "f16" and "shader-f16" not in lab.dev.features:
            continue
        dp4a = elem in DP4A_STEPS
        source = dp4a_peak_wgsl(chains, iterations, unroll, elem) if dp4a else peak_wgsl(elem, width, chains, iterations, unroll)
        p = lab.pipeline(source, label)
        g = lab.group(p, [sink])
        t = lab.time(p, [g], (workgroups, 1, 1), reps)
        # a DP4A step is four multiply-adds (8 operations), an fma of width w is w (2w)
        tflops = workgroups * 256 * iterations * unroll * chains * (4 if dp4a else width) * 2 / t / 1e12
        print(f"{label:66s} {t * 1e6:9.1f} us {tflops:8.2f} TFLOP/s", flush=True)
        out.append({"kernel": "peak", "elem": elem, "width": width, "chains": chains, "iterations": iterations,
                    "unroll": unroll, "workgroups": workgroups, "us": t * 1e6, "TFLOPs": tflops})  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------- running


class Lab:
    def __init__(self) -> None:
        from rusty_ir.bench import profiling_device

        self.dev: Device = profiling_device()
        self.d = self.dev.device
        self.timestamps = "timestamp-query" in self.dev.features

    def pipeline(self, source: str, label: str, entry_point: str = "main"):
        module = self.dev.compile(source, label=label)
        return self.d.create_compute_pipeline(layout="auto", compute={"module": module, "entry_point": entry_point})

    def try_pipeline(self, source: str, label: str):
        """The pipeline, or None with a line printed where the adapter refuses the variant (not fatal)."""
        try:
            return self.pipeline(source, label)
        except Exception as err:
            print(f"{label}: FAILED {str(err).splitlines()[0][:300]}", flush=True)
            return None

    def group(self, pipeline, buffers, bindings=None):
        """A bind group of ``buffers`` at ``bindings`` (default 0, 1, ...) of the pipeline's layout."""
        return self.d.create_bind_group(
            layout=pipeline.get_bind_group_layout(0),
            entries=[{"binding": i, "resource": {"buffer": b}} for i, b in zip(bindings or range(len(buffers)), buffers)],
        )

    def time(self, pipeline, groups, grid, reps: int) -> float:
        """Median seconds of one dispatch: ``reps`` dispatches per pass (cycling ``groups``), 5 passes."""
        import wgpu

        times = []
        for trial in range(6):
            enc = self.d.create_command_encoder()
            qs = self.d.create_query_set(type=wgpu.QueryType.timestamp, count=2) if self.timestamps else None
            kw = {"timestamp_writes": {"query_set": qs, "beginning_of_pass_write_index": 0, "end_of_pass_write_index": 1}} if qs else {}
            cp = enc.begin_compute_pass(**kw)
            cp.set_pipeline(pipeline)
            for i in range(reps):
                cp.set_bind_group(0, groups[i % len(groups)])
                cp.dispatch_workgroups(*grid)
            cp.end()
            if qs:
                buf = self.d.create_buffer(size=16, usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
                enc.resolve_query_set(qs, 0, 2, buf, 0)
            start = time.perf_counter()
            self.d.queue.submit([enc.finish()])
            if qs:
                stamps = np.frombuffer(self.d.queue.read_buffer(buf), np.uint64)
                elapsed = float(stamps[1] - stamps[0]) * 1e-9
            else:
                self.dev.flush()
                elapsed = time.perf_counter() - start
            if trial:  # the first is a warm-up
                times.append(elapsed / reps)
        return float(np.median(times))


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def run_gemv(lab: Lab, n: int, k: int, variants, copies: int, reps: int, rng) -> list[dict]:
    codes, scales, values = q4_0_random(rng, n, k)
    x = rng.standard_normal(k).astype(np.float32)
    ref = values.astype(np.float64) @ x.astype(np.float64)
    xb = lab.dev.buffer(x)
    wbufs = [(lab.dev.buffer(codes), lab.dev.buffer(scales)) for _ in range(copies)]
    y = lab.dev.empty(4 * n)
    out = []
    wbytes = codes.nbytes + scales.nbytes
    for rows, groups, split, unroll, conv in variants:
        label = f"gemv {n}x{k} rows={rows} groups={groups} split={split} unroll={unroll} {conv}"
        p = lab.try_pipeline(gemv_wgsl(n, k, rows, groups, split, unroll, conv), label)
        if p is None:
            continue
        binds = [lab.group(p, [xb, c, s, y]) for c, s in wbufs]
        grid = (-(-n // (rows * groups)), 1, 1)
        lab.dev.write(y, np.full(n, np.nan, np.float32))
        t = lab.time(p, binds[:1], grid, 1)
        err = rel_err(lab.dev.read(y, np.float32, n).astype(np.float64), ref)
        t = lab.time(p, binds, grid, reps)
        row = {
            "kernel": "gemv",
            "n": n,
            "k": k,
            "rows": rows,
            "groups": groups,
            "split": split,
            "unroll": unroll,
            "conv": conv,
            "us": t * 1e6,
            "GBps": wbytes / t / 1e9,
            "rel_err": err,
        }
        print(f"{label:66s} {t * 1e6:9.1f} us {wbytes / t / 1e9:8.1f} GB/s  err {err:.1e}", flush=True)
        out.append(row)
    return out


def run_gemv_dp4a(lab: Lab, n: int, k: int, variants, copies: int, reps: int, rng) -> list[dict]:
    codes, scales, values = q4_0_random(rng, n, k)
    x = rng.standard_normal(k).astype(np.float32)
    xq, xd, xdeq = quantize_x_q8(x)
    ref = values.astype(np.float64) @ x.astype(np.float64)
    ref_q = values.astype(np.float64) @ xdeq.astype(np.float64)
    bufs = {"x": lab.dev.buffer(x), "xq": lab.dev.buffer(xq), "xd": lab.dev.buffer(xd)}
    wbufs = [(lab.dev.buffer(codes), lab.dev.buffer(scales)) for _ in range(copies)]
    y = lab.dev.empty(4 * n)
    out = []
    wbytes = codes.nbytes + scales.nbytes
    for rows, groups, split, unroll, xmode in variants:
        label = f"dp4a {n}x{k} rows={rows} groups={groups} split={split} unroll={unroll} {xmode}"
        p = lab.try_pipeline(gemv_dp4a_wgsl(n, k, rows, groups, split, unroll, xmode), label)
        if p is None:
            continue

        def group(c, s_, xmode=xmode, p=p):
            ents = [(0, bufs["xq"] if xmode == "pre" else bufs["x"]), (1, c), (2, s_), (3, y)] + (
                [(4, bufs["xd"])] if xmode == "pre" else []
            )
            return lab.d.create_bind_group(
                layout=p.get_bind_group_layout(0), entries=[{"binding": i, "resource": {"buffer": b}} for i, b in ents]
            )

        binds = [group(c, s_) for c, s_ in wbufs]
        grid = (-(-n // (rows * groups)), 1, 1)
        lab.dev.write(y, np.full(n, np.nan, np.float32))
        lab.time(p, binds[:1], grid, 1)
        got = lab.dev.read(y, np.float32, n).astype(np.float64)
        err, errq = rel_err(got, ref), rel_err(got, ref_q)
        t = lab.time(p, binds, grid, reps)
        print(f"{label:66s} {t * 1e6:9.1f} us {wbytes / t / 1e9:8.1f} GB/s  err {err:.1e} (vs q8 x {errq:.1e})", flush=True)
        out.append(
            {
                "kernel": "dp4a",
                "n": n,
                "k": k,
                "rows": rows,
                "groups": groups,
                "split": split,
                "unroll": unroll,
                "xmode": xmode,
                "us": t * 1e6,
                "GBps": wbytes / t / 1e9,
                "rel_err": err,
                "rel_err_q8": errq,
            }
        )
    return out


def run_gemm(lab: Lab, m: int, n: int, k: int, variants, reps: int, rng) -> list[dict]:
    codes, scales, values = q4_0_random(rng, n, k)
    x = rng.standard_normal((m, k)).astype(np.float32)
    ref = x.astype(np.float64) @ values.astype(np.float64).T
    xb, cb, sb = lab.dev.buffer(x), lab.dev.buffer(codes), lab.dev.buffer(scales)
    y = lab.dev.empty(4 * m * n)
    out = []
    for bm, bn, bk, math, unroll in variants:
        label = f"gemm {m}x{n}x{k} tile={bm}x{bn}x{bk} {math}{' unrolled' if unroll else ''}"
        p = lab.try_pipeline(gemm_wgsl(m, n, k, bm, bn, bk, math, unroll), label)
        if p is None:
            continue
        g = lab.group(p, [xb, cb, sb, y])
        grid = (-(-n // bn), -(-m // bm), 1)
        lab.dev.write(y, np.full(m * n, np.nan, np.float32))
        lab.time(p, [g], grid, 1)
        err = rel_err(lab.dev.read(y, np.float32, m * n).astype(np.float64).reshape(m, n), ref)
        t = lab.time(p, [g], grid, reps)
        tflops = 2 * m * n * k / t / 1e12
        print(f"{label:66s} {t * 1e6:9.1f} us {tflops:8.2f} TFLOP/s  err {err:.1e}", flush=True)
        out.append(
            {
                "kernel": "gemm",
                "m": m,
                "n": n,
                "k": k,
                "bm": bm,
                "bn": bn,
                "bk": bk,
                "math": math,
                "unroll": unroll,
                "us": t * 1e6,
                "TFLOPs": tflops,
                "rel_err": err,
            }
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="small sizes (CPU adapters)")
    ap.add_argument("--out", default="", help="write every result as JSON here")
    ap.add_argument("--only", default="gemv,gemm")
    ap.add_argument("--lanes", type=int, default=32, help="the adapter's subgroup size")
    args = ap.parse_args()
    global LANES
    LANES = args.lanes
    lab = Lab()
    print(lab.dev.adapter.info["device"], lab.dev.adapter.info.get("description", ""), flush=True)
    rng = np.random.default_rng(0)
    results = []
    if not args.small:
        from rusty_ir.probes import measure_read_bandwidth

        bw = measure_read_bandwidth(lab.dev)
        print(f"read bandwidth {bw['bytes_per_s'] / 1e9:.0f} GB/s", flush=True)
        results.append({"kernel": "read", "GBps": bw["bytes_per_s"] / 1e9})
    if "gemv" in args.only.split(","):
        shapes = [(96, 512)] if args.small else [(14336, 4096), (4096, 14336), (4096, 4096), (1024, 4096)]
        for n, k in shapes:
            variants = [(r, g, s, u, conv) for r in (4, 8) for g, s in ((1, 4), (2, 2), (4, 1), (2, 4), (8, 1), (1, 8))
                        for u in (1, 2) for conv in ("magic", "i2f") if conv == "magic" or (r == 4 and u == 2)]  # fmt: skip
            if args.small:
                variants = [(4, 1, 2, 2, "magic"), (2, 2, 1, 1, "i2f")]
            results += run_gemv(lab, n, k, variants, copies=1 if args.small else 4, reps=2 if args.small else 50, rng=rng)
    if "dp4a" in args.only.split(","):
        shapes = [(96, 512)] if args.small else [(28672, 4096), (4096, 14336), (4096, 4096), (6144, 4096)]
        for n, k in shapes:
            if args.small:
                variants = [(2, 2, 2, 2, "pre"), (4, 1, 1, 1, "shared"), (1, 4, 1, 2, "shared")]
                floats = [(4, 1, 1, 2, "magic")]
            else:
                variants = [(r, g, s, u, xm) for xm in ("pre", "shared") for r in (1, 2, 4) for g, s in ((4, 1), (2, 2), (8, 1), (1, 4))
                            for u in (1, 2) if not (xm == "shared" and g * s < 4)]  # fmt: skip
                floats = [(4, 4, 1, 2, "magic"), (2, 4, 1, 2, "magic"), (2, 2, 2, 2, "magic")]
            results += run_gemv(lab, n, k, floats, copies=1 if args.small else 4, reps=2 if args.small else 50, rng=rng)
            results += run_gemv_dp4a(lab, n, k, variants, copies=1 if args.small else 4, reps=2 if args.small else 50, rng=rng)
    if "peak" in args.only.split(","):  # what measure_fma_peak measures (vec4 x 8 chains, 4096 steps, 1024 workgroups), and variations
        variants = [("f32", 4, 8, 4096, 1), ("f32", 4, 8, 512, 8), ("f32", 1, 16, 512, 8), ("f32", 4, 4, 512, 8),
                    ("f16", 4, 8, 4096, 1), ("f16", 4, 8, 512, 8), ("f16", 2, 16, 512, 8),
                    ("dp4a", 1, 8, 512, 8), ("dp4a", 1, 16, 512, 8), ("dp4a-bare", 1, 8, 512, 8), ("dp4a-bare", 1, 16, 512, 8),
                    ("dp4a-xor", 1, 8, 512, 8), ("dp4a-xor", 1, 16, 512, 8)]  # fmt: skip
        if args.small:
            variants = [(e, w, ch, 16, u) for e, w, ch, _, u in variants[:3] + [v for v in variants if v[0] in DP4A_STEPS and v[2] == 16]]
        for wg in (1024,) if args.small else (1024, 4096):
            results += run_peak(lab, variants, wg, reps=1 if args.small else 2)
    if "gemm" in args.only.split(","):
        shapes = [(70, 200, 128)] if args.small else [(512, 14336, 4096), (512, 4096, 14336)]
        for m, n, k in shapes:
            variants = [(bm, bn, bk, math, u) for bm, bn in ((128, 128), (64, 128)) for bk in (32, 64) for math in ("f32", "f16")
                        for u in (False, True) if not (math == "f32" and bk == 64 and bm == 128)]  # fmt: skip
            if args.small:
                variants = [(64, 128, 64, "f16", True), (128, 128, 32, "f32", False)]
            results += run_gemm(lab, m, n, k, variants, reps=2 if args.small else 20, rng=rng)
    if "gemm-dp4a" in args.only.split(","):
        shapes = [(70, 200, 128)] if args.small else [(512, 14336, 4096), (512, 4096, 14336)]
        for m, n, k in shapes:
            variants = (
                [(64, 128, 1), (128, 128, 2)] if args.small else [(128, 128, 1), (128, 128, 2), (64, 128, 1), (64, 128, 2), (128, 64, 1)]
            )
            results += run_gemm_dp4a(lab, m, n, k, variants, reps=2 if args.small else 20, rng=rng)
    print("best per shape:")
    best: dict[tuple, dict] = {}
    for r in results:
        if r["kernel"] in ("read", "peak"):
            continue
        key = (r["kernel"] if r["kernel"] == "gemm" else "gemv", r.get("m"), r["n"], r["k"])
        if key not in best or r["us"] < best[key]["us"]:
            best[key] = r
    for key, r in best.items():
        print(" ", key, {k: v for k, v in r.items() if k not in ("kernel", "m", "n", "k")})
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"device": dict(lab.dev.adapter.info), "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
