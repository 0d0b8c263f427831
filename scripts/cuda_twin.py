"""A CUDA twin of one generated WGSL kernel, so that NVIDIA's profilers can read it: Nsight Compute reads CUDA
kernels, not Vulkan shaders, and wgpu shows no driver disassembly, so a kernel's stall reasons, pipe use and
registers are out of reach otherwise (issue 15: what a verification step's extra tokens cost).

``translate`` rewrites one kernel of a module that ``backends/wgsl`` emitted into CUDA C++, statement by statement:
the emitter's subset (``let``/``var`` of scalars and loaded vectors, bitcasts and conversions, storage, uniform and
workgroup variables, ``for``/``if``, barriers, subgroup operations, ``dot4I8Packed``). What it does not know (vector
arithmetic, say) is refused by name. The twin is then a faithful copy of the schedule (same threads, same loads,
same arithmetic in the same order), compiled by NVRTC instead of the Vulkan driver.

On a machine with an NVIDIA GPU, CuPy and wgpu: the synthetic model of ``--shape`` is compiled for ``--target``
(or ``--wgsl`` read), the kernel is run as its twin and, with ``--check``, through wgpu on the same random buffers
(every written buffer compared), each timed (medians of 5 rounds of ``--reps`` launches). Under ``ncu`` the twin's launches are what the
profiler reads::

    python scripts/cuda_twin.py --kernel contraction_6_5 --grid 1,1024,1 --params 6 --check
    ncu --clock-control none -k regex:contraction_6_5 -c 1 --section SpeedOfLight --section WarpStateStats \\
        --section LaunchStats --section Occupancy python scripts/cuda_twin.py --kernel contraction_6_5 \\
        --grid 1,1024,1 --params 6 --reps 1

``--emit FILE`` writes the CUDA source, ``--registers`` what ``ptxas -v`` says of each twin for sm_90 (neither needs a
GPU; ``--registers`` needs NVIDIA's compiler wheels, ``ptxas_report``)::

    python scripts/cuda_twin.py --kernel contraction_5_1,contraction_5_4,contraction_5_7 --registers

Status (2026-12-06): the twins of llama3-8b's gemvs (few-token gate+up, down, LM head; decode down; the quantizing
kernel) compile under NVRTC for sm_90 (``--registers`` runs here); the GPU path has not run yet (the session's
device time was spent).
The first run should be ``--check``: a twin is only worth profiling where it matches and times like the original.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

SCALARS = {"i32": "int", "u32": "unsigned", "f32": "float", "f16": "__half", "bool": "bool"}
VECTORS = {"i32": "int4", "u32": "uint4", "f32": "float4"}

PRELUDE = r"""#include <cuda_fp16.h>
__device__ __forceinline__ int bc_i32(int x) { return x; }
__device__ __forceinline__ int bc_i32(unsigned x) { return (int)x; }
__device__ __forceinline__ int bc_i32(float x) { return __float_as_int(x); }
__device__ __forceinline__ unsigned bc_u32(int x) { return (unsigned)x; }
__device__ __forceinline__ unsigned bc_u32(unsigned x) { return x; }
__device__ __forceinline__ unsigned bc_u32(float x) { return __float_as_uint(x); }
__device__ __forceinline__ float bc_f32(int x) { return __int_as_float(x); }
__device__ __forceinline__ float bc_f32(unsigned x) { return __uint_as_float(x); }
__device__ __forceinline__ float bc_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(int x) { return (float)x; }
__device__ __forceinline__ float to_f32(unsigned x) { return (float)x; }
__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ int to_i32(float x) { return (int)x; }
__device__ __forceinline__ int to_i32(int x) { return x; }
__device__ __forceinline__ int to_i32(unsigned x) { return (int)x; }
__device__ __forceinline__ unsigned to_u32(int x) { return (unsigned)x; }
__device__ __forceinline__ unsigned to_u32(unsigned x) { return x; }
__device__ __forceinline__ unsigned to_u32(float x) { return (unsigned)x; }
__device__ __forceinline__ __half to_f16(float x) { return __float2half(x); }
template <class T> __device__ __forceinline__ T sel(T f, T t, bool c) { return c ? t : f; }
__device__ __forceinline__ float wabs(float x) { return fabsf(x); }
__device__ __forceinline__ int wabs(int x) { return abs(x); }
__device__ __forceinline__ float wround(float x) { return rintf(x); }  // WGSL rounds half to even
__device__ __forceinline__ int dot4(unsigned a, unsigned b) { return __dp4a((int)a, (int)b, 0); }
template <class T> __device__ __forceinline__ T sg_xor(T x, unsigned m) { return __shfl_xor_sync(0xffffffffu, x, m); }
template <class T> __device__ __forceinline__ T sg_add(T x) {
  for (unsigned m = 16; m; m >>= 1) x += __shfl_xor_sync(0xffffffffu, x, m);
  return x;
}
template <class T> __device__ __forceinline__ T sg_max(T x) {
  for (unsigned m = 16; m; m >>= 1) x = max(x, __shfl_xor_sync(0xffffffffu, x, m));
  return x;
}
template <class T> __device__ __forceinline__ T sg_min(T x) {
  for (unsigned m = 16; m; m >>= 1) x = min(x, __shfl_xor_sync(0xffffffffu, x, m));
  return x;
}
"""

CALLS = {"select": "sel", "abs": "wabs", "round": "wround", "dot4I8Packed": "dot4", "subgroupShuffleXor": "sg_xor",
         "subgroupAdd": "sg_add", "subgroupMax": "sg_max", "subgroupMin": "sg_min", "inverseSqrt": "rsqrtf",
         "workgroupBarrier": "__syncthreads", "f32": "to_f32", "i32": "to_i32", "u32": "to_u32", "f16": "to_f16",
         "exp": "expf", "pow": "powf", "cos": "cosf", "sin": "sinf", "fma": "fmaf", "min": "min", "max": "max"}  # fmt: skip
"""WGSL built-ins (and conversions) the emitter uses, by their twin; a call to anything else is refused."""


@dataclass
class Binding:
    """One storage or uniform variable of the kernel, in binding order."""

    index: int
    name: str
    elem: str
    """WGSL element type: a scalar, ``vec4<T>``, or the uniform's struct name."""
    access: str
    """``read``, ``read_write`` or ``uniform``."""
    fields: list[str] = field(default_factory=list)
    """The uniform struct's i32 fields, in order."""


@dataclass
class Twin:
    """A kernel's CUDA source and what running it needs."""

    name: str
    source: str
    bindings: list[Binding]
    workgroup: tuple[int, int, int]


def _kernel_text(module: str, name: str) -> str:
    marker = f"// gpu.module @kernels > gpu.func @{name}\n"
    start = module.find(marker)
    if start < 0:
        names = ", ".join(re.findall(r"gpu.func @(\w+)", module)[:20])
        raise SystemExit(f"no kernel '{name}' in the module (its kernels: {names} ...)")
    end = module.find("// gpu.module @kernels > gpu.func @", start + len(marker))
    return module[start : end if end > 0 else len(module)]


def _type(wgsl: str) -> str:
    wgsl = wgsl.strip()
    if wgsl in SCALARS:
        return SCALARS[wgsl]
    m = re.fullmatch(r"vec4<(\w+)>", wgsl)
    if m and m.group(1) in VECTORS:
        return VECTORS[m.group(1)]
    raise SystemExit(f"cuda_twin: type {wgsl} is not translated")


def _expression(expr: str, vectors: set[str]) -> str:
    """One WGSL expression of the emitter's as CUDA."""
    if re.search(r"\b(vec\d|array|mat\d)", expr):
        raise SystemExit(f"cuda_twin: vector or array values are not translated: {expr}")
    expr = re.sub(r"bitcast<(i32|u32|f32)>\(", r"bc_\1(", expr)
    expr = re.sub(r"\b(\d+)i\b", r"\1", expr)
    # v[2] of a loaded vector: its component
    expr = re.sub(r"\b(\w+)\[(\d)\]", lambda m: f"{m.group(1)}.{'xyzw'[int(m.group(2))]}" if m.group(1) in vectors else m.group(0), expr)
    for call in re.findall(r"\b([A-Za-z_]\w*)\s*(?=\()", expr):
        if call not in CALLS and not call.startswith("bc_"):
            raise SystemExit(f"cuda_twin: the call {call}() is not translated: {expr}")
    return re.sub(r"\b([A-Za-z_]\w*)(?=\s*\()", lambda m: CALLS.get(m.group(1), m.group(1)), expr)


def translate(module: str, name: str) -> Twin:
    """The CUDA twin of kernel ``name`` of ``module`` (the emitter's WGSL)."""
    text = _kernel_text(module, name)
    bindings: list[Binding] = []
    structs: dict[str, list[str]] = {}
    shared: list[str] = []
    body: list[str] = []
    vectors: set[str] = set()
    lanes: dict[str, tuple[str, str]] = {}
    """Arrays of vec4 by name: (const or not, scalar type); ``a[i][j]`` (one lane of a vector) reads or writes
    ``a_lanes[i * 4 + j]``."""
    workgroup = (1, 1, 1)
    lines = iter(text.splitlines())
    for line in lines:
        s = line.strip()
        if not s or s.startswith("//"):
            continue
        if m := re.fullmatch(r"@group\(0\) @binding\((\d+)\) var<(storage, read|storage, read_write|uniform)> (\w+): (.+);", s):
            index, access, var, ty = int(m.group(1)), m.group(2).split(", ")[-1], m.group(3), m.group(4)
            elem = re.fullmatch(r"array<(.+)>", ty).group(1) if access != "uniform" else ty
            bindings.append(Binding(index, var, elem, access, structs.get(ty, [])))
            if elem.startswith("vec4"):
                lanes[var] = ("const " if access == "read" else "", _type(elem.split("<")[1].rstrip(">")))
        elif m := re.fullmatch(r"struct (\w+) \{", s):
            fields = []
            for inner in lines:
                if inner.strip() == "}":
                    break
                f = re.fullmatch(r"(\w+): i32,", inner.strip())
                if f is None:
                    raise SystemExit(f"cuda_twin: uniform field {inner.strip()} is not translated")
                fields.append(f.group(1))
            structs[m.group(1)] = fields
        elif m := re.fullmatch(r"var<workgroup> (\w+): array<(.+), (\d+)>;", s):
            shared.append(f"  __shared__ {_type(m.group(2))} {m.group(1)}[{m.group(3)}];")
            if m.group(2).startswith("vec4"):
                lanes[m.group(1)] = ("", _type(m.group(2).split("<")[1].rstrip(">")))
        elif m := re.fullmatch(r"@compute @workgroup_size\((\d+), (\d+), (\d+)\)", s):
            workgroup = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        elif s.startswith("fn "):
            if "local_invocation_id" not in s or "workgroup_id" not in s or s.count("@builtin") != 2:
                raise SystemExit(f"cuda_twin: entry point {s} is not translated")
            for inner in lines:
                body.append(_statement(inner, vectors))
        else:
            raise SystemExit(f"cuda_twin: {s} is not translated")
    params = []
    for bnd in bindings:
        if bnd.access == "uniform":  # its fields as int parameters: name.field -> name_field
            params += [f"int {bnd.name}_{f}" for f in bnd.fields]
            body = [re.sub(rf"\b{bnd.name}\.(\w+)", rf"{bnd.name}_\1", line) for line in body]
        else:
            const = "const " if bnd.access == "read" else ""
            params.append(f"{const}{_type(bnd.elem)}* __restrict__ {bnd.name}")
    for array, (const, scalar) in lanes.items():
        shared.append(f"  {const}{scalar}* {array}_lanes = ({const}{scalar}*){array};")
        lane = re.compile(rf"\b{array}\[([^\[\]]+)\]\[([^\[\]]+)\]")
        body = [lane.sub(rf"{array}_lanes[(\1) * 4 + (\2)]", line) for line in body]
    threads = workgroup[0] * workgroup[1] * workgroup[2]
    source = (PRELUDE + f'extern "C" __global__ void __launch_bounds__({threads}) {name}({", ".join(params)}) {{\n'
              + "\n".join(shared) + "\n  const uint3 lid = threadIdx;\n  const uint3 wid = blockIdx;\n" + "\n".join(body) + "\n")  # fmt: skip
    return Twin(name, source, bindings, workgroup)


def _statement(line: str, vectors: set[str]) -> str:
    indent, s = line[: len(line) - len(line.lstrip())], line.strip()
    if not s or s.startswith("//"):
        return line
    if m := re.fullmatch(r"(let|var) (\w+): ([\w<>]+) = (.+);", s):
        kind, var, ty, expr = m.groups()
        if ty.startswith("vec"):
            vectors.add(var)
        return f"{indent}{'const ' if kind == 'let' else ''}{_type(ty)} {var} = {_expression(expr, vectors)};"
    if m := re.fullmatch(r"var (\w+): (vec4<\w+>);", s):  # set in the branches of an if
        vectors.add(m.group(1))
        return f"{indent}{_type(m.group(2))} {m.group(1)};"
    if m := re.fullmatch(r"let (\w+) = (.+);", s):  # a loop's next values, untyped
        return f"{indent}const auto {m.group(1)} = {_expression(m.group(2), vectors)};"
    if m := re.fullmatch(r"for \(var (\w+): (\w+) = (.+); (.+); (\w+) = (.+)\) \{", s):
        var, ty, init, cond, var2, step = m.groups()
        e = partial(_expression, vectors=vectors)
        return f"{indent}for ({_type(ty)} {var} = {e(init)}; {e(cond)}; {var2} = {e(step)}) {{"
    if m := re.fullmatch(r"if \((.+)\) \{", s):
        return f"{indent}if ({_expression(m.group(1), vectors)}) {{"
    if s in ("}", "} else {", "break;", "continue;", "return;", "workgroupBarrier();"):
        return indent + ("__syncthreads();" if s == "workgroupBarrier();" else s)
    if m := re.fullmatch(r"(\w+(?:\[.+\])?) = (.+);", s):
        return f"{indent}{_expression(m.group(1), vectors)} = {_expression(m.group(2), vectors)};"
    raise SystemExit(f"cuda_twin: statement {s} is not translated")


# ---------------------------------------------------------------------------------------- running


def _random(bnd: Binding, words: int, rng: np.random.Generator) -> np.ndarray:
    """``words`` 32-bit words of inputs that are finite whatever they are read as: integers whose float bits lie
    in [2^-7, 1) (any bytes as 8-bit codes), normal floats, f16 scales of 0.01-0.03; outputs zero."""
    scalar = re.fullmatch(r"(?:vec4<)?(\w+)>?", bnd.elem).group(1)
    if bnd.access == "read_write":
        return np.zeros(words, np.int32)
    if scalar in ("i32", "u32"):
        return rng.integers(0x3C000000, 0x3F800000, words, dtype=np.int32)
    if scalar == "f16":
        return rng.uniform(0.01, 0.03, 2 * words).astype(np.float16).view(np.int32)
    return rng.standard_normal(words, dtype=np.float32).view(np.int32)


def run(twin: Twin, module: str, grid: tuple[int, int, int], params: list[int], words: int, reps: int, check: bool) -> None:
    """Run and time the twin (CuPy) and, with ``check``, the WGSL kernel (wgpu) on the same buffers."""
    import cupy as cp

    rng = np.random.default_rng(0)
    inputs = [np.asarray(params, np.int32) if b.access == "uniform" else _random(b, words, rng) for b in twin.bindings]
    kernel = cp.RawKernel(twin.source, twin.name, options=("-std=c++17", "-w"))
    args: list = []
    arrays = {}
    for b, data in zip(twin.bindings, inputs):
        if b.access == "uniform":  # its fields, one int each (``translate``)
            if data.size != len(b.fields):
                raise SystemExit(f"--params: the kernel's uniform has {len(b.fields)} fields ({', '.join(b.fields)}), not {data.size}")
            args += [np.int32(x) for x in data]
        else:
            arrays[b.index] = cp.asarray(data)
            args.append(arrays[b.index])
    kernel(grid, twin.workgroup, tuple(args))
    written = {b.index: cp.asnumpy(arrays[b.index]) for b in twin.bindings if b.access == "read_write"}  # after one launch
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    times = []
    for _ in range(5):
        start.record()
        for _ in range(reps):
            kernel(grid, twin.workgroup, tuple(args))
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop) / reps * 1e3)
    print(f"{twin.name} twin (CUDA): {np.median(times):.1f} µs a launch (median of 5 rounds of {reps}); {kernel.num_regs} registers, "
          f"{kernel.local_size_bytes} bytes of local memory a thread", flush=True)  # fmt: skip
    if check:
        ours = _run_wgsl(twin, module, grid, inputs, reps)
        for b, data in zip(twin.bindings, ours):
            if b.access != "read_write":
                continue
            mine = written[b.index].view(np.float32 if "f32" in b.elem else np.int32).astype(np.float64)
            theirs = data.view(np.float32 if "f32" in b.elem else np.int32).astype(np.float64)
            scale = max(np.abs(theirs).max(), 1e-30)
            print(f"  {b.name}: max |twin - wgpu| / max |wgpu| = {np.abs(mine - theirs).max() / scale:.2e} "
                  f"({np.count_nonzero(theirs)} nonzero words)", flush=True)  # fmt: skip


def _run_wgsl(twin: Twin, module: str, grid: tuple[int, int, int], inputs: list[np.ndarray], reps: int) -> list[np.ndarray]:
    """The WGSL kernel's written buffers after one launch on ``inputs``, and its time (timestamp queries)."""
    import wgpu

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from kernel_lab import Lab

    lab = Lab()
    text = _kernel_text(module, twin.name)  # it declares all the kernel uses
    pipe = lab.pipeline("enable f16;\n" + text, "twin", twin.name)
    usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
    bufs = []
    for b, data in zip(twin.bindings, inputs):
        kind = wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST if b.access == "uniform" else usage
        payload = np.pad(data, (0, (-data.size) % 4)) if b.access == "uniform" else data
        bufs.append(lab.d.create_buffer_with_data(data=payload.tobytes(), usage=kind))
    used = [i for i, b in enumerate(twin.bindings) if len(re.findall(rf"\b{b.name}\b", text)) > 1]  # wgpu's layout has those only
    group = lab.group(pipe, [bufs[i] for i in used], [twin.bindings[i].index for i in used])
    enc = lab.d.create_command_encoder()
    cp_ = enc.begin_compute_pass()
    cp_.set_pipeline(pipe)
    cp_.set_bind_group(0, group)
    cp_.dispatch_workgroups(*grid)
    cp_.end()
    lab.d.queue.submit([enc.finish()])
    out = [np.frombuffer(lab.d.queue.read_buffer(buf), np.int32).copy() if b.access == "read_write" else data
           for b, buf, data in zip(twin.bindings, bufs, inputs)]  # fmt: skip
    print(f"{twin.name} (wgpu): {lab.time(pipe, [group], grid, reps) * 1e6:.1f} µs a launch", flush=True)
    return out


def ptxas_report(twin: Twin, arch: str = "90") -> str:
    """What ``ptxas -v`` says of the twin compiled here for ``sm_<arch>`` (registers, spills, shared memory): NVRTC
    and ptxas from NVIDIA's wheels (``nvidia-cuda-nvrtc-cu12``, ``nvidia-cuda-nvcc-cu12``,
    ``nvidia-cuda-runtime-cu12`` for its headers); no GPU needed."""
    import ctypes
    import subprocess
    import tempfile

    try:
        import nvidia.cuda_nvcc
        import nvidia.cuda_nvrtc
        import nvidia.cuda_runtime
    except ImportError:
        raise SystemExit("--registers needs NVIDIA's compilers here: pip install nvidia-cuda-nvrtc-cu12 nvidia-cuda-nvcc-cu12 "
                         "nvidia-cuda-runtime-cu12") from None  # fmt: skip
    nvrtc_dir, nvcc_dir, runtime_dir = (Path(next(iter(m.__path__))) for m in (nvidia.cuda_nvrtc, nvidia.cuda_nvcc, nvidia.cuda_runtime))
    nvrtc = ctypes.CDLL(str(next((nvrtc_dir / "lib").glob("libnvrtc.so*"))))
    prog = ctypes.c_void_p()
    if nvrtc.nvrtcCreateProgram(ctypes.byref(prog), twin.source.encode(), f"{twin.name}.cu".encode(), 0, None, None):
        raise SystemExit("cuda_twin: NVRTC could not take the program")
    options = [b"-std=c++17", b"-w", f"--gpu-architecture=compute_{arch}".encode(), f"-I{runtime_dir / 'include'}".encode()]
    failed = nvrtc.nvrtcCompileProgram(prog, len(options), (ctypes.c_char_p * len(options))(*options))
    size = ctypes.c_size_t()
    if failed:
        nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        nvrtc.nvrtcGetProgramLog(prog, log)
        raise SystemExit(f"cuda_twin: NVRTC refused the twin of {twin.name}:\n{log.value.decode()[:2000]}")
    nvrtc.nvrtcGetPTXSize(prog, ctypes.byref(size))
    ptx = ctypes.create_string_buffer(size.value)
    nvrtc.nvrtcGetPTX(prog, ptx)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "k.ptx").write_bytes(ptx.value)
        out = subprocess.run([str(nvcc_dir / "bin" / "ptxas"), f"-arch=sm_{arch}", "-v", "-o", str(Path(tmp) / "k.cubin"), str(Path(tmp) / "k.ptx")],
                             capture_output=True, text=True, check=True)  # fmt: skip
    lines = [line.split("ptxas info    : ")[-1].strip() for line in out.stderr.splitlines() if "Used" in line or "spill" in line]
    return "; ".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kernel", required=True, help="the kernel's name in the module (e.g. contraction_6_5); with --registers, a comma list")
    p.add_argument("--wgsl", help="a module the emitter wrote (default: the synthetic model of --shape, compiled here)")
    p.add_argument("--shape", default="llama3-8b")
    p.add_argument("--target", default="nvidia", help="the target the module is compiled for when --wgsl is not given")
    p.add_argument("--emit", help="write the CUDA source here and stop")
    p.add_argument("--registers", action="store_true", help="print ptxas's registers and spills of each twin for sm_90 and stop")
    p.add_argument("--grid", default="1,1,1", help="workgroups x,y,z")
    p.add_argument("--params", default="", help="the uniform's i32 fields, comma-separated (e.g. the step's tokens)")
    p.add_argument("--mib", type=int, default=300, help="MiB of every storage buffer (enough for the largest index)")
    p.add_argument("--reps", type=int, default=50)
    p.add_argument("--check", action="store_true", help="also run the WGSL kernel through wgpu and compare")
    a = p.parse_args()
    if a.wgsl:
        module = Path(a.wgsl).read_text()
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_long import compile_synthetic

        module = compile_synthetic(None, a.shape, use_cache=False, target=a.target)[1].wgsl
    if a.registers:
        for name in a.kernel.split(","):
            print(f"{name}: {ptxas_report(translate(module, name))}", flush=True)
        return 0
    twin = translate(module, a.kernel)
    if a.emit:
        Path(a.emit).write_text(twin.source)
        print(f"wrote {a.emit} ({len(twin.source.splitlines())} lines; bindings: "
              f"{', '.join(f'{b.name} {b.access} {b.elem}' for b in twin.bindings)})")  # fmt: skip
        return 0
    grid = tuple(int(x) for x in a.grid.split(","))
    params = [int(x) for x in a.params.split(",") if x]
    run(twin, module, grid, params, a.mib * (1 << 18), a.reps, a.check)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
