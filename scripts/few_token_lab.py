"""Hand-written few-token Q4_0 x int8 gemvs, checked against numpy and timed: how fast can a verification step's
contraction be on this stack (WGSL through naga and the adapter's driver), next to what the compiler generates?

Issue 15's design probe, not part of the compiler. ``y[t, n] = sum_k W[n, k] x[t, k]`` for ``T`` tokens: W as the
runtime's Q4_0 (16-byte code blocks, f16 scales apart), x prequantized per token into int8 blocks of 32 with
``(d, 8 d sum q)`` (``kernel_lab.quantize_x_q8``). A workgroup holds ``threads / split`` row groups of ``rows``
rows; the ``split`` lanes of a row group (neighbours in one subgroup) walk every ``split``-th weight block, load
each block's codes once, unpack them once and multiply them with every token's words (``dot4I8Packed``); a
butterfly of ``subgroupShuffleXor`` adds the lanes' sums, and lane 0 stores the group's rows for every token.
``mode``:

- ``offset``: codes 0..15 and ``acc += s * (d * dot(q, x) - 8 d sum x)`` with ``8 d sum x`` carried in the
  activation block: three float operations per row, token and block (``fma(s, fma(d, f32(dot), -8dsum), acc)``;
  the generated kernels spend four: they multiply the weights' offset by the block's integer sum);
- ``signed``: the codes made signed (``q - 8``, three integer operations a code word, once per block and row for
  all tokens), then ``acc += (s * d) * dot(q - 8, x)``: no activation sum, the same three float operations.

    python scripts/few_token_lab.py --small --lanes 8        # llvmpipe: small sizes, correctness
    python scripts/few_token_lab.py --out few.json           # a GPU: llama3-8b's shapes at 1, 2, 5 and 8 tokens
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_lab import Lab, q4_0_random, quantize_x_q8, rel_err

MASK = "0x0F0F0F0Fu"


def few_wgsl(n: int, k: int, tokens: int, rows: int, split: int, threads: int, mode: str) -> str:
    """The kernel for one variant (see the module docstring)."""
    nb = k // 32
    groups = threads // split
    lines = []
    for r in range(rows):
        lines.append(f"    let c{r} = codes[n{r} * {nb}u + b];")
        lines.append(f"    let s{r} = f32(scales[n{r} * {nb}u + b]);")
        lo, hi = f"(c{r} & vec4<u32>({MASK}))", f"((c{r} >> vec4<u32>(4u)) & vec4<u32>({MASK}))"
        if mode == "signed":  # q - 8 per byte, no borrows between bytes: ((q | 0x80) - 8) ^ 0x80
            lo = f"((({lo} | vec4<u32>(0x80808080u)) - vec4<u32>(0x08080808u)) ^ vec4<u32>(0x80808080u))"
            hi = f"((({hi} | vec4<u32>(0x80808080u)) - vec4<u32>(0x08080808u)) ^ vec4<u32>(0x80808080u))"
        lines.append(f"    let l{r} = {lo};")
        lines.append(f"    let h{r} = {hi};")
    for t in range(tokens):
        lines.append(f"    let xl{t} = XQ[({t * nb}u + b) * 2u]; let xh{t} = XQ[({t * nb}u + b) * 2u + 1u]; let xd{t} = XD[{t * nb}u + b];")
        for r in range(rows):
            dot = " + ".join(f"dot4I8Packed(l{r}.{c}, xl{t}.{c}) + dot4I8Packed(h{r}.{c}, xh{t}.{c})" for c in "xyzw")
            if mode == "signed":
                lines.append(f"    a{t}_{r} = fma(s{r} * xd{t}.x, f32({dot}), a{t}_{r});")
            else:
                lines.append(f"    a{t}_{r} = fma(s{r}, fma(xd{t}.x, f32({dot}), -xd{t}.y), a{t}_{r});")
    # one variable per accumulator, every index a constant: an array indexed in a loop would live in local memory
    accs = [f"a{t}_{r}" for t in range(tokens) for r in range(rows)]
    butterfly = []
    off = split // 2
    while off:
        butterfly += [f"  {a} += subgroupShuffleXor({a}, {off}u);" for a in accs]
        off //= 2
    stores = [f"    if (row0 + {r}u < {n}u) {{ y[{t * n}u + row0 + {r}u] = a{t}_{r}; }}" for t in range(tokens) for r in range(rows)]
    return f"""enable f16;
@group(0) @binding(0) var<storage, read> XQ: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> codes: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> scales: array<f16>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> XD: array<vec2<f32>>;
@compute @workgroup_size({threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{
  let lane = lid.x % {split}u;
  let row0 = (wid.x * {groups}u + lid.x / {split}u) * {rows}u;
{chr(10).join(f"  let n{r} = min(row0 + {r}u, {n - 1}u);" for r in range(rows))}
{chr(10).join(f"  var {a} = 0.0;" for a in accs)}
  for (var b = lane; b < {nb}u; b += {split}u) {{
{chr(10).join(lines)}
  }}
{chr(10).join(butterfly)}
  if (lane == 0u) {{
{chr(10).join(stores)}
  }}
}}
"""


def run(lab: Lab, n: int, k: int, tokens: int, variants, copies: int, reps: int, rng) -> list[dict]:
    codes, scales, values = q4_0_random(rng, n, k)
    x = rng.standard_normal((tokens, k)).astype(np.float32)
    quantized = [quantize_x_q8(row) for row in x]
    xq = np.concatenate([q for q, _, _ in quantized])
    xd = np.concatenate([d for _, d, _ in quantized])
    ref = np.stack([deq for _, _, deq in quantized]).astype(np.float64) @ values.astype(np.float64).T
    xqb, xdb = lab.dev.buffer(xq), lab.dev.buffer(xd)
    wbufs = [(lab.dev.buffer(codes), lab.dev.buffer(scales)) for _ in range(copies)]
    y = lab.dev.empty(4 * n * tokens)
    wbytes = codes.nbytes + scales.nbytes
    out = []
    for rows, split, threads, mode in variants:
        label = f"few {n}x{k} T={tokens} rows={rows} split={split} threads={threads} {mode}"
        p = lab.try_pipeline(few_wgsl(n, k, tokens, rows, split, threads, mode), label)
        if p is None:
            continue
        binds = [lab.group(p, [xqb, c, s, y, xdb]) for c, s in wbufs]
        grid = (-(-n // (rows * threads // split)), 1, 1)
        lab.dev.write(y, np.full(n * tokens, np.nan, np.float32))
        lab.time(p, binds[:1], grid, 1)
        err = rel_err(lab.dev.read(y, np.float32, n * tokens).astype(np.float64).reshape(tokens, n), ref)
        t = lab.time(p, binds, grid, reps)
        print(f"{label:70s} {t * 1e6:9.1f} us {wbytes / t / 1e9:8.1f} GB/s  err {err:.1e}", flush=True)
        out.append({"n": n, "k": k, "tokens": tokens, "rows": rows, "split": split, "threads": threads, "mode": mode,
                    "us": t * 1e6, "GBps": wbytes / t / 1e9, "rel_err": err})  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="small sizes (CPU adapters)")
    ap.add_argument("--lanes", type=int, default=32, help="the adapter's subgroup size (the widest split)")
    ap.add_argument("--tokens", default="1,2,5,8")
    ap.add_argument("--out", default="", help="write every result as JSON here")
    args = ap.parse_args()
    lab = Lab()
    print(lab.dev.adapter.info["device"], lab.dev.adapter.info.get("description", ""), flush=True)
    rng = np.random.default_rng(0)
    shapes = [(96, 512)] if args.small else [(28672, 4096), (4096, 14336), (6144, 4096)]
    splits = [s for s in (8, 16, 32) if s <= args.lanes]
    variants = [(r, s, 128, m) for m in ("offset", "signed") for s in splits for r in (1, 2, 4)]
    if args.small:
        variants = [(r, s, 32, m) for m in ("offset", "signed") for s in splits[:1] for r in (1, 2)]
    results = []
    for n, k in shapes:
        for tokens in (int(t) for t in args.tokens.split(",")):
            results += run(lab, n, k, tokens, variants, copies=1 if args.small else 4, reps=2 if args.small else 40, rng=rng)
    print("best per shape and token count:")
    best: dict[tuple, dict] = {}
    for r in results:
        key = (r["n"], r["k"], r["tokens"])
        if key not in best or r["us"] < best[key]["us"]:
            best[key] = r
    for key, r in best.items():
        print(" ", key, f"{r['us']:.1f} us rows={r['rows']} split={r['split']} {r['mode']} err {r['rel_err']:.1e}")
    if args.out:
        Path(args.out).write_text(json.dumps({"device": dict(lab.dev.adapter.info), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
