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


def gemv_wgsl(n: int, k: int, rows: int, warps: int, conv: str, red: str) -> str:
    """y[n] = sum_k W[n, k] x[k]; a group of 32 invocations per ``rows`` rows, lanes walk the blocks."""
    nb = k // 32
    shifts_lo = "vec4<u32>(0u, 8u, 16u, 24u)"
    shifts_hi = "vec4<u32>(4u, 12u, 20u, 28u)"

    def deq(word: str, shifts: str) -> str:
        q = f"((vec4<u32>({word}) >> {shifts}) & vec4<u32>(15u))"
        if conv == "magic":
            return f"(bitcast<vec4<f32>>({q} | vec4<u32>(0x4B000000u)) - vec4<f32>(8388616.0))"
        return f"(vec4<f32>({q}) - vec4<f32>(8.0))"

    body = []
    for r in range(rows):
        body.append(f"    let n{r} = min(row0 + {r}u, {n - 1}u);")
        body.append(f"    let c{r} = codes[n{r} * {nb}u + b];")
        body.append(f"    let s{r} = f32(scales[n{r} * {nb}u + b]);")
        terms = " + ".join(
            f"dot({deq(f'c{r}.{c}', shifts_lo)}, x{i}) + dot({deq(f'c{r}.{c}', shifts_hi)}, x{i + 4})" for i, c in enumerate("xyzw")
        )
        body.append(f"    acc{r} = fma(s{r}, {terms}, acc{r});")
    if red == "subgroup":
        reduce = [f"  let t{r} = subgroupAdd(acc{r});" for r in range(rows)]
        store = [f"    if (row0 + {r}u < {n}u) {{ y[row0 + {r}u] = t{r}; }}" for r in range(rows)]
        tail = reduce + ["  if (lane == 0u) {", *store, "  }"]
    else:
        tail = [f"  part[{r}u * {32 * warps}u + lid.x] = acc{r};" for r in range(rows)]
        tail.append("  workgroupBarrier();")
        for s in (16, 8, 4, 2, 1):
            tail.append(f"  if (lane < {s}u) {{")
            tail += [f"    part[{r}u * {32 * warps}u + lid.x] += part[{r}u * {32 * warps}u + lid.x + {s}u];" for r in range(rows)]
            tail.append("  }")
            tail.append("  workgroupBarrier();")
        tail.append("  if (lane == 0u) {")
        tail += [f"    if (row0 + {r}u < {n}u) {{ y[row0 + {r}u] = part[{r}u * {32 * warps}u + lid.x]; }}" for r in range(rows)]
        tail.append("  }")
    decls = f"var<workgroup> part: array<f32, {rows * 32 * warps}>;\n" if red == "shared" else ""
    return f"""enable f16;
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> codes: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> scales: array<f16>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
{decls}
@compute @workgroup_size({32 * warps})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{
  let lane = lid.x % 32u;
  let row0 = (wid.x * {warps}u + lid.x / 32u) * {rows}u;
{chr(10).join(f"  var acc{r} = 0.0f;" for r in range(rows))}
  for (var b = lane; b < {nb}u; b += 32u) {{
{chr(10).join(f"    let x{i} = x[b * 8u + {i}u];" for i in range(8))}
{chr(10).join(body)}
  }}
{chr(10).join(tail)}
}}
"""


# ---------------------------------------------------------------------------------------- GEMM


def gemm_wgsl(m: int, n: int, k: int, bm: int, bn: int, math: str) -> str:
    """Y[m, n] = sum_k X[m, k] W[n, k]: a (bm x bn) tile per workgroup of 256 invocations (16 x 16), an
    8 x 8 register tile per invocation (rows ty*4.. and bm/2 + ty*4.., columns likewise), K in steps of one
    Q4_0 block: the X tile staged transposed [k][m], the weight tile dequantized once into [k][n];
    the next step's global loads are issued before this step's arithmetic (register prefetch).
    ``math``: f32 (f32 tiles and FMAs) or f16 (f16 tiles, vec4<f16> FMAs per block, f32 accumulators)."""
    assert bm in (64, 128) and bn in (64, 128)
    nb = k // 32
    tm, tn = bm // 16, bn // 16  # rows and columns per invocation: two groups of tm/2, tn/2
    elem = "f16" if math == "f16" else "f32"
    a_loads = bm * 8 // 256  # vec4 loads of X per invocation per step (bm rows x 8 vec4)
    b_rows = 256 // (bn) if bn < 256 else 1  # invocations per weight row per step
    # weight staging: invocation t -> row t % bn, part t / bn of the block's 32 values (32 / b_rows values)
    per = 32 // b_rows
    lines = []
    add = lines.append
    add("enable f16;")
    add("@group(0) @binding(0) var<storage, read> X: array<vec4<f32>>;")
    add("@group(0) @binding(1) var<storage, read> codes: array<vec4<u32>>;")
    add("@group(0) @binding(2) var<storage, read> scales: array<f16>;")
    add("@group(0) @binding(3) var<storage, read_write> Y: array<f32>;")
    add(f"var<workgroup> As: array<vec4<{elem}>, {32 * bm // 4}>;")
    add(f"var<workgroup> Bs: array<vec4<{elem}>, {32 * bn // 4}>;")
    add("@compute @workgroup_size(256)")
    add("fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {")
    add("  let t = lid.x; let tx = t % 16u; let ty = t / 16u;")
    add(f"  let n0 = wid.x * {bn}u; let m0 = wid.y * {bm}u;")
    # prefetch registers
    for i in range(a_loads):
        add(f"  let ar{i} = (t + {256 * i}u) % {bm}u; let aq{i} = (t + {256 * i}u) / {bm}u;")  # row, vec4 index in the block
        add(f"  let arow{i} = min(m0 + ar{i}, {m - 1}u);")
    add(f"  let brow = n0 + t % {bn}u; let bpart = t / {bn}u;")
    add(f"  let bn_ = min(brow, {n - 1}u);")

    def global_loads(kb: str, suffix: str) -> None:
        for i in range(a_loads):
            add(f"    let pa{i}{suffix} = X[arow{i} * {k // 4}u + {kb} * 8u + aq{i}];")
        add(f"    let pc{suffix} = codes[bn_ * {nb}u + {kb}];")
        add(f"    let ps{suffix} = scales[bn_ * {nb}u + {kb}];")

    def stage(suffix: str) -> None:
        for i in range(a_loads):
            for c in range(4):
                # value (row ar, k = aq*4 + c) -> As[k][row]
                add(f"    As[(aq{i} * 4u + {c}u) * {bm // 4}u + ar{i} / 4u][ar{i} % 4u] = {elem}(pa{i}{suffix}[{c}]);")
        # weight: part p of b_rows covers values p*per .. p*per+per-1 of the block
        for j in range(per):
            # element e = bpart * per + j: word (e % 16) / 4, byte e % 4, high nibble if e >= 16
            add(f"    {{ let e = bpart * {per}u + {j}u; let w = pc{suffix}[(e % 16u) / 4u];")
            add(f"      let q = (w >> ((e % 4u) * 8u + (e / 16u) * 4u)) & 15u;")
            add(f"      Bs[e * {bn // 4}u + (t % {bn}u) / 4u][t % 4u] = {elem}(f32(ps{suffix}) * (f32(q) - 8.0)); }}")

    gm, gn = tm // 4, tn // 4  # vec4 groups per invocation along m and n, bm / gm and bn / gn apart
    for r in range(tm):
        for c in range(gn):
            add(f"  var acc{r}_{c} = vec4<f32>(0.0);")
    add("  {")
    global_loads("0u", "")
    stage("")
    add("  }")
    add("  workgroupBarrier();")
    add(f"  for (var kb = 0u; kb < {nb}u; kb += 1u) {{")
    add(f"    let kn = min(kb + 1u, {nb - 1}u);")
    global_loads("kn", "")
    if math == "f16":
        for r in range(tm):
            for c in range(gn):
                add(f"    var h{r}_{c} = vec4<f16>(0.0h);")
    add("    for (var kk = 0u; kk < 32u; kk += 1u) {")
    for g in range(gm):
        add(f"      let a{g} = As[kk * {bm // 4}u + {g * bm // (4 * gm)}u + ty];")
    for g in range(gn):
        add(f"      let b{g} = Bs[kk * {bn // 4}u + {g * bn // (4 * gn)}u + tx];")
    for r in range(tm):
        a = f"a{r // 4}[{r % 4}]"
        for c in range(gn):
            if math == "f16":
                add(f"      h{r}_{c} = fma(vec4<f16>({a}), b{c}, h{r}_{c});")
            else:
                add(f"      acc{r}_{c} = fma(vec4<f32>({a}), b{c}, acc{r}_{c});")
    add("    }")
    if math == "f16":
        for r in range(tm):
            for c in range(gn):
                add(f"    acc{r}_{c} += vec4<f32>(h{r}_{c});")
    add("    workgroupBarrier();")
    add(f"    if (kb + 1u < {nb}u) {{")
    stage("")
    add("    }")
    add("    workgroupBarrier();")
    add("  }")
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
    add("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------- running


class Lab:
    def __init__(self) -> None:
        from rusty_ir.bench import profiling_device

        self.dev: Device = profiling_device()
        self.d = self.dev.device
        self.timestamps = "timestamp-query" in self.dev.features

    def pipeline(self, source: str, label: str):
        module = self.dev.compile(source, label=label)
        return self.d.create_compute_pipeline(layout="auto", compute={"module": module, "entry_point": "main"})

    def group(self, pipeline, buffers):
        return self.d.create_bind_group(
            layout=pipeline.get_bind_group_layout(0),
            entries=[{"binding": i, "resource": {"buffer": b}} for i, b in enumerate(buffers)],
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
    for rows, warps, conv, red in variants:
        label = f"gemv {n}x{k} rows={rows} warps={warps} {conv} {red}"
        try:
            p = lab.pipeline(gemv_wgsl(n, k, rows, warps, conv, red), label)
        except Exception as err:  # noqa: BLE001 - a variant the adapter refuses is reported, not fatal
            print(f"{label}: FAILED {str(err).splitlines()[0][:200]}", flush=True)
            continue
        groups = [lab.group(p, [xb, c, s, y]) for c, s in wbufs]
        grid = (-(-n // (rows * warps)), 1, 1)
        lab.dev.write(y, np.full(n, np.nan, np.float32))
        t = lab.time(p, groups[:1], grid, 1)
        err = rel_err(lab.dev.read(y, np.float32, n).astype(np.float64), ref)
        t = lab.time(p, groups, grid, reps)
        row = {"kernel": "gemv", "n": n, "k": k, "rows": rows, "warps": warps, "conv": conv, "red": red, "us": t * 1e6, "GBps": wbytes / t / 1e9, "rel_err": err}
        print(f"{label:58s} {t * 1e6:9.1f} us {wbytes / t / 1e9:8.1f} GB/s  err {err:.1e}", flush=True)
        out.append(row)
    return out


def run_gemm(lab: Lab, m: int, n: int, k: int, variants, reps: int, rng) -> list[dict]:
    codes, scales, values = q4_0_random(rng, n, k)
    x = rng.standard_normal((m, k)).astype(np.float32)
    ref = x.astype(np.float64) @ values.astype(np.float64).T
    xb, cb, sb = lab.dev.buffer(x), lab.dev.buffer(codes), lab.dev.buffer(scales)
    y = lab.dev.empty(4 * m * n)
    out = []
    for bm, bn, math in variants:
        label = f"gemm {m}x{n}x{k} tile={bm}x{bn} {math}"
        try:
            p = lab.pipeline(gemm_wgsl(m, n, k, bm, bn, math), label)
        except Exception as err:  # noqa: BLE001
            print(f"{label}: FAILED {str(err).splitlines()[0][:300]}", flush=True)
            continue
        g = lab.group(p, [xb, cb, sb, y])
        grid = (-(-n // bn), -(-m // bm), 1)
        lab.dev.write(y, np.full(m * n, np.nan, np.float32))
        lab.time(p, [g], grid, 1)
        err = rel_err(lab.dev.read(y, np.float32, m * n).astype(np.float64).reshape(m, n), ref)
        t = lab.time(p, [g], grid, reps)
        tflops = 2 * m * n * k / t / 1e12
        print(f"{label:58s} {t * 1e6:9.1f} us {tflops:8.2f} TFLOP/s  err {err:.1e}", flush=True)
        out.append({"kernel": "gemm", "m": m, "n": n, "k": k, "bm": bm, "bn": bn, "math": math, "us": t * 1e6, "TFLOPs": tflops, "rel_err": err})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="small sizes (CPU adapters)")
    ap.add_argument("--out", default="", help="write every result as JSON here")
    ap.add_argument("--only", default="gemv,gemm")
    args = ap.parse_args()
    lab = Lab()
    print(lab.dev.adapter.info["device"], lab.dev.adapter.info.get("description", ""), flush=True)
    rng = np.random.default_rng(0)
    results = []
    if not args.small:
        from rusty_ir.bench import measure_read_bandwidth

        bw = measure_read_bandwidth(lab.dev)
        print(f"read bandwidth {bw['bytes_per_s'] / 1e9:.0f} GB/s", flush=True)
        results.append({"kernel": "read", "GBps": bw["bytes_per_s"] / 1e9})
    subgroup = "subgroup" in lab.dev.features and not args.small
    reds = ["subgroup", "shared"] if subgroup else ["shared"]
    if "gemv" in args.only:
        shapes = [(96, 256)] if args.small else [(14336, 4096), (4096, 14336), (4096, 4096), (1024, 4096)]
        for n, k in shapes:
            variants = [(r, w, conv, red) for r in (1, 2, 4) for w in (4, 8) for conv in ("i2f", "magic") for red in reds]
            if args.small:
                variants = [(r, 2, conv, "shared") for r in (1, 4) for conv in ("i2f", "magic")]
            results += run_gemv(lab, n, k, variants, copies=1 if args.small else 4, reps=2 if args.small else 50, rng=rng)
    if "gemm" in args.only:
        shapes = [(70, 200, 64)] if args.small else [(512, 14336, 4096), (512, 4096, 4096), (512, 4096, 14336)]
        for m, n, k in shapes:
            variants = [(bm, bn, math) for bm, bn in ((128, 128), (64, 128), (128, 64)) for math in ("f32", "f16")]
            results += run_gemm(lab, m, n, k, variants, reps=2 if args.small else 20, rng=rng)
    print("best per shape:")
    best: dict[tuple, dict] = {}
    for r in results:
        if r["kernel"] == "read":
            continue
        key = (r["kernel"], r.get("m"), r["n"], r["k"])
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
