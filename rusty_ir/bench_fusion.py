"""``rusty bench --fusion``: fused against unfused kernels of our compiler (and PyTorch eager), time and bytes moved.

    report = run_fusion_bench(FusionOptions(elements=1 << 26))
    print(format_fusion_report(report))          # or json.dumps(report)

The question it answers (issue 5, "Fusion, measured"): does fusion cut memory traffic by more
than half, and what does that buy in time? What it does, in order:

1. Cases, each a small transformer-level (``tfm``) function built as IR text:

   - ``elementwise``: ``(A + B) * C`` on ``N`` f32 elements (``tfm.add``, ``tfm.mul``),
     laid out as ``[N / W, W]`` rows with ``W = gcd(N, 4096)``;
   - ``gemm`` and ``gemv``: ``GELU(x @ W^T + bias)`` at ``M x K x N`` (``tfm.linear`` with a
     bias, then ``tfm.gelu`` with the tanh approximation): ``x`` is ``[M, K]`` f32 (our
     activations are f32), ``W`` is ``[N, K]`` and ``bias`` ``[N]``, both stored f16 (the
     ``f16`` weight scheme of ``rusty_ir.weights``; kernels read the raw halves and accumulate
     in f32), the result ``[M, N]`` f32.

2. Each case is compiled twice through the default pipeline (``rusty_ir.pipeline.DEFAULT_STAGES``,
   tuning target from the adapter): *fused* as is, and *unfused* with ``form-dispatches{fuse=false}``
   (one dispatch per tensor-level op; every intermediate goes through a buffer). The WGSL and the
   host schedule come out as for a model; the schedule's one function is run here (``_Program``).

3. Timing. With the adapter's ``timestamp-query`` feature: ``warmup`` untimed runs, then
   ``repeats`` runs in one command buffer, each run one compute pass holding every dispatch of the
   variant, a timestamp at the pass's start and end; the median is reported. A second command buffer
   times each dispatch in a pass of its own (the per-kernel breakdown). Timestamps are taken as
   nanoseconds, as ``rusty bench --profile`` does (wgpu does not expose the period; it is 1 ns on
   NVIDIA and llvmpipe); a sum of GPU times above the wall time of the submit is flagged. Without
   the feature: wall clock of each run submitted and awaited (a 4-byte read-back), which includes
   the submit and the wait; the report says which method was used.

4. Bytes moved, a model, the same for every variant: each dispatch moves the whole of every buffer
   it binds once, read-only bindings as bytes read, writable ones as bytes written. A buffer's size
   is that of the value bound (its shape at this step), not of the device buffer behind it. This is
   the compulsory traffic of the dispatch sequence: re-reads that a kernel's tiling makes (the GEMM
   reading ``W`` once per group of rows, served mostly from cache) are not in it, nor are reads a
   kernel skips. PyTorch eager gets the same model per op (every input and output tensor once).
   Effective GB/s = modelled bytes / median time. The traffic ratio is fused / unfused bytes; the
   issue's claim is "fusion cuts memory traffic by more than half", i.e. a ratio below 0.5.

5. Correctness guard: after the timed runs, each variant's output is read back and compared with
   numpy (float32 on the same f16-rounded weights): max |ours - ref| / max |ref| must stay within
   ``OURS_REL_TOL``. A failed guard fails the command after the report is printed.

6. ``--vs-torch``: the same computation as separate PyTorch eager ops on the same inputs (``a + b``
   then ``* c``; ``x @ W.T``, ``+ bias``, ``gelu(approximate="tanh")``) on cuda when available,
   timed with CUDA events (wall clock on the CPU), in ``torch_dtype``: ``auto`` is float32 for the
   elementwise case (as ours) and float16 for the matmul cases (everything f16, as PyTorch users
   run them). Its ``dispatches`` count eager ops (a cuBLAS call may launch more than one kernel).
   torch is imported only here; it is not a dependency.

Tuning is the default pipeline's (the target's heuristic), the same for both variants.

Size: over 600 lines for now: its cases, the timing of a variant and its PyTorch baseline are to become
modules of ``rusty_ir.bench`` (issue 18). The host schedule is walked by the runtime's schedule executor
(``rusty_ir.backends.runtime.execute``), as the tuner's is.
"""

from __future__ import annotations

import datetime
import math
import shlex
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rusty_ir.backends.runtime.execute import ELEMENT_BYTES, Buffer, ConcreteHost, Executor
from rusty_ir.backends.runtime.schedule import Alloc, Launch, Weight
from rusty_ir.bench import report_header, report_main
from rusty_ir.bench.report import _bytes
from rusty_ir.errors import RustyError
from rusty_ir.probes import spin_up
from rusty_ir.weights import SCHEMES

if TYPE_CHECKING:
    import wgpu

    from rusty_ir.backends.runtime.device import BoundKernel, Device, Kernel
    from rusty_ir.backends.runtime.schedule import Schedule

ValueKey = tuple[str, str | int]
"""Which device buffer a host value is: ``("arg", name)``, ``("weight", name)`` or ``("slot", n)``."""

CASES = ("elementwise", "gemm", "gemv")
"""Every case, in the order they run."""
DEFAULT_ELEMENTS = 1 << 26
"""Elements of each (A + B) * C operand (64M: 256 MiB of f32 per buffer)."""
DEFAULT_GEMM = (4096, 4096, 4096)
"""M x K x N of the GEMM case."""
DEFAULT_GEMV = (1, 4096, 14336)
"""M x K x N of the GEMV case (one row: a decode-step projection of Llama-3-8B's MLP)."""
OURS_REL_TOL = 5e-3
"""Max relative error (max |out - ref| / max |ref|) our kernels may show against numpy: f32 kernels are near
1e-7, but on targets with f16 arithmetic the GEMM multiplies f16 tiles (its activations rounded to f16,
2^-11 relative each), which on K = 4096 reaches about 1.5e-3."""
TORCH_REL_TOL = {"float32": 1e-3, "float16": 2e-2}
"""The same for PyTorch, by its dtype (f16 activations round every intermediate)."""
TORCH_DTYPES = ("auto", "float16", "float32")
ELEMENTWISE_MAX_WIDTH = 4096
"""Row width of the elementwise case's ``[N / W, W]`` layout: ``W = gcd(N, 4096)``."""
MAX_REPEATS = 1000
"""Most timed runs per variant (all of them go into one command buffer)."""
QUERIES_PER_SET = 4096
"""WebGPU's limit on the queries of one query set (two per timed pass)."""


@dataclass
class FusionOptions:
    """What ``rusty bench --fusion`` runs."""

    cases: tuple[str, ...] = CASES
    """Which cases, a subset of ``CASES``."""
    elements: int = DEFAULT_ELEMENTS
    """N of the elementwise case: elements per operand."""
    gemm: tuple[int, int, int] = DEFAULT_GEMM
    """M, K, N of the GEMM case."""
    gemv: tuple[int, int, int] = DEFAULT_GEMV
    """M, K, N of the GEMV case (M is normally 1)."""
    repeats: int = 10
    """Timed runs per variant; medians are reported."""
    warmup: int = 2
    """Untimed runs per variant before the timed ones."""
    seed: int = 0
    """Seed of the random inputs and weights."""
    vs_torch: bool = False
    """Also time PyTorch eager on the same device (needs torch)."""
    torch_dtype: str = "auto"
    """PyTorch's dtype: auto (float32 elementwise, float16 matmuls), float16 or float32."""
    target: str | None = None
    """Tuning target description (``rusty_ir.targets.TARGETS``); None: the adapter's."""
    command: str | None = None
    """The command line, for the report."""


def parse_shape(text: str, flag: str) -> tuple[int, int, int]:
    """``MxKxN`` (or ``M,K,N``) as three positive ints; a RustyError naming ``flag`` otherwise."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) < 1:
        raise RustyError(f"{flag} takes MxKxN with three positive integers (for example 4096x4096x4096), got '{text}'")
    return dims


def parse_cases(text: str) -> tuple[str, ...]:
    """A comma-separated subset of ``CASES``, in ``CASES`` order."""
    wanted = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in CASES]
    if unknown or not wanted:
        what = f"unknown case {unknown[0]!r}" if unknown else "no case given"
        raise RustyError(f"--fusion-cases: {what} (cases: {', '.join(CASES)})")
    return tuple(c for c in CASES if c in wanted)


def validate(opts: FusionOptions) -> None:
    """RustyError for inconsistent options, before anything runs."""
    if not opts.cases or any(c not in CASES for c in opts.cases):
        raise RustyError(f"cases must be a non-empty subset of {', '.join(CASES)}, got {list(opts.cases)}")
    if opts.elements < 1:
        raise RustyError(f"--fusion-elements must be at least 1, got {opts.elements}")
    for flag, dims in (("--fusion-gemm", opts.gemm), ("--fusion-gemv", opts.gemv)):
        if len(dims) != 3 or min(dims) < 1:
            raise RustyError(f"{flag} needs three positive sizes M x K x N, got {dims}")
    if not 1 <= opts.repeats <= MAX_REPEATS:
        raise RustyError(f"--repeats must be between 1 and {MAX_REPEATS}, got {opts.repeats}")
    if opts.warmup < 0:
        raise RustyError(f"--warmup must be at least 0, got {opts.warmup}")
    if opts.target is not None:
        from rusty_ir.targets import TARGETS

        if opts.target not in TARGETS:
            raise RustyError(f"unknown target '{opts.target}' (known: {', '.join(TARGETS)})")
    if opts.torch_dtype not in TORCH_DTYPES:
        raise RustyError(f"--torch-dtype must be one of {', '.join(TORCH_DTYPES)}, got '{opts.torch_dtype}'")


# --- the cases -------------------------------------------------------------------------------


@dataclass
class Case:
    """One computation: its IR, its inputs and weights, and the numpy reference."""

    name: str
    title: str
    shape: dict[str, int]
    ir: str
    """Transformer-level IR text: one function ``@bench`` whose arguments are ``inputs`` in order."""
    inputs: dict[str, np.ndarray]
    """Function arguments (f32 activations), by argument name."""
    weights: dict[str, np.ndarray]
    """Weight-store tensors (``tfm.weight`` names), as the arrays whose bytes are uploaded."""
    out_shape: tuple[int, ...]
    reference: Callable[[], np.ndarray]
    dtypes: dict[str, str]
    """What each operand is stored as in our kernels (for the report)."""
    torch_ops: str
    """The PyTorch eager ops timed with --vs-torch."""


def _elementwise_case(n: int, rng: np.random.Generator) -> Case:
    width = math.gcd(n, ELEMENTWISE_MAX_WIDTH)
    rows = n // width
    t = f"tensor<?x{width}xf32>"
    ir = (
        f"func.func @bench(%a: {t}, %b: {t}, %c: {t}) -> {t} {{\n"
        f"  %s = tfm.add %a, %b : {t}\n"
        f"  %m = tfm.mul %s, %c : {t}\n"
        f"  func.return %m : {t}\n"
        "}\n"
    )
    inputs = {k: rng.uniform(-1.0, 1.0, size=(rows, width)).astype(np.float32) for k in ("a", "b", "c")}

    def reference() -> np.ndarray:
        return (inputs["a"] + inputs["b"]) * inputs["c"]

    return Case("elementwise", "(A + B) * C", {"N": n, "rows": rows, "width": width}, ir, inputs, {}, (rows, width), reference,
                {"a": "f32", "b": "f32", "c": "f32", "out": "f32"}, "a + b, then * c")  # fmt: skip


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.float32(math.sqrt(2.0 / math.pi)) * (x + np.float32(0.044715) * x * x * x)))


def _matmul_case(name: str, m: int, k: int, n: int, rng: np.random.Generator) -> Case:
    ir = (
        f"func.func @bench(%x: tensor<?x{k}xf32>) -> tensor<?x{n}xf32> {{\n"
        f'  %w = tfm.weight "w" : tensor<{n}x{k}xf16>\n'
        f'  %bias = tfm.weight "bias" : tensor<{n}xf16>\n'
        f"  %y = tfm.linear %x, %w, %bias : tensor<?x{k}xf32>, tensor<{n}x{k}xf16>, tensor<{n}xf16> -> tensor<?x{n}xf32>\n"
        f'  %g = tfm.gelu %y {{approximate = "tanh"}} : tensor<?x{n}xf32>\n'
        f"  func.return %g : tensor<?x{n}xf32>\n"
        "}\n"
    )
    x = rng.uniform(-1.0, 1.0, size=(m, k)).astype(np.float32)
    w = (rng.standard_normal((n, k), dtype=np.float32) * np.float32(1.0 / math.sqrt(k))).astype(np.float16)
    bias = rng.standard_normal(n, dtype=np.float32).astype(np.float16)

    def reference() -> np.ndarray:
        return _gelu_tanh(x @ w.astype(np.float32).T + bias.astype(np.float32))

    title = "GELU(x @ W^T + bias)" + (" GEMV" if m == 1 else " GEMM")
    return Case(name, title, {"M": m, "K": k, "N": n}, ir, {"x": x}, {"w": w, "bias": bias}, (m, n), reference,
                {"x": "f32", "w": "f16", "bias": "f16", "out": "f32", "accumulate": "f32"}, "x @ W.T, + bias, gelu(tanh)")  # fmt: skip


def build_case(name: str, opts: FusionOptions) -> Case:
    """The case ``name`` at the sizes of ``opts`` (inputs drawn from a generator seeded per case)."""
    rng = np.random.default_rng([opts.seed, CASES.index(name)])
    if name == "elementwise":
        return _elementwise_case(opts.elements, rng)
    m, k, n = opts.gemm if name == "gemm" else opts.gemv
    return _matmul_case(name, m, k, n, rng)


def largest_binding(name: str, opts: FusionOptions) -> tuple[int, str]:
    """Bytes of the largest buffer case ``name`` binds (inputs, weights, intermediates, output), and the flag that sizes it."""
    if name == "elementwise":
        return 4 * opts.elements, "--fusion-elements"
    m, k, n = opts.gemm if name == "gemm" else opts.gemv
    return max(4 * m * k, 2 * n * k, 4 * m * n), f"--fusion-{name}"


def check_device_fits(device: Device, opts: FusionOptions) -> None:
    """RustyError, before any work, when a case's largest buffer exceeds the device's binding or buffer size."""
    for limit_name in ("max-storage-buffer-binding-size", "max-buffer-size"):
        limit = device.limits.get(limit_name)
        if limit is None:
            continue
        for name in opts.cases:
            need, flag = largest_binding(name, opts)
            if need > limit:
                raise RustyError(f"{name}: a buffer of {need} bytes ({_bytes(need)}) exceeds this device's {limit_name} "
                                 f"of {limit} bytes ({_bytes(limit)}); choose smaller sizes with {flag}")  # fmt: skip


# --- compiling ---------------------------------------------------------------------------------


def compile_variant(ir: str, fused: bool, target: str) -> tuple[str, Schedule, float]:
    """The case's IR through the default stages (``form-dispatches{fuse=false}`` when not ``fused``):
    (WGSL source, ``Schedule``, compile seconds)."""
    from xdsl.parser import Parser

    from rusty_ir.backends.runtime.schedule import load_schedule
    from rusty_ir.backends.schedule import emit_schedule
    from rusty_ir.backends.wgsl import emit_program
    from rusty_ir.ir import verify
    from rusty_ir.pipeline import DEFAULT_STAGES, build_pipeline
    from rusty_ir.registry import build_registry

    start = time.perf_counter()
    registry = build_registry()
    ctx = registry.context()
    module = Parser(ctx, ir).parse_module()
    verify(module, stage="input")
    specs = [spec.replace("TARGET", target) for _, spec in DEFAULT_STAGES]
    if not fused:
        if "form-dispatches" not in specs:
            raise RustyError("the default pipeline has no 'form-dispatches' stage to run unfused")
        specs[specs.index("form-dispatches")] = "form-dispatches{fuse=false}"
    for (stage, _), spec in zip(DEFAULT_STAGES, specs, strict=True):
        build_pipeline(registry, spec).apply(ctx, module)
        verify(module, stage=f"stage '{stage}'")
    program = emit_program(module)
    schedule = load_schedule(emit_schedule(module))
    return program.source, schedule, time.perf_counter() - start


# --- running a schedule's function ------------------------------------------------------------


@dataclass
class _Value:
    """A buffer value of the host function: which device buffer, and the bytes the value spans."""

    key: ValueKey
    nbytes: int


@dataclass
class _Dispatch:
    kernel: str
    bound: BoundKernel
    grid: tuple[int, int, int]
    read_bytes: int
    written_bytes: int


class _Host(ConcreteHost):
    """The fusion bench's side of the schedule executor (``rusty_ir.backends.runtime.execute``): buffers are
    ``_Value`` (a buffer key and the bytes it spans); allocs of one ``rusty.slot`` share a device buffer, as in
    ``ModelRuntime``; weights come from the case's arrays."""

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self.weights = weights
        self.sizes: dict[ValueKey, int] = {}
        self.data: dict[ValueKey, np.ndarray] = {}
        self.launches: list[tuple[Launch, list[_Value], list[int | float]]] = []

    def alloc(self, step: Alloc, shape: tuple[int, ...], where: str) -> _Value:
        value = _Value(("slot", step.slot), int(np.prod(shape)) * ELEMENT_BYTES[step.element_type])
        self.sizes[value.key] = max(self.sizes.get(value.key, 0), value.nbytes)
        return value

    def weight(self, step: Weight, layer: int | None, where: str) -> _Value:
        if step.name not in self.weights:
            raise RustyError(f"{where}: the schedule binds weight '{step.name}', which the case does not have")
        array = np.ascontiguousarray(self.weights[step.name])
        expected = SCHEMES[step.scheme].nbytes(tuple(step.shape))
        if array.nbytes != expected:
            raise RustyError(f"{where}: weight '{step.name}' has {array.nbytes} bytes, the schedule expects {expected}")
        value = _Value(("weight", step.name), array.nbytes)
        self.data[value.key] = array
        self.sizes[value.key] = value.nbytes
        return value

    def launch(self, step: Launch, buffers: list[_Value], grid: tuple[int, ...], scalars: list[int | float], where: str) -> None:
        self.launches.append((step, buffers, [*grid, *scalars]))


@dataclass
class _Program:
    """A compiled variant on the device: buffers made, kernels bound, ready to encode.

    Runs a schedule function (any steps but KV caches), walked once by the schedule executor for the
    case's sizes. Allocs of one ``rusty.slot`` share a device buffer, as in ``ModelRuntime``.
    """

    device: Device
    dispatches: list[_Dispatch] = field(default_factory=list)
    buffers: dict[ValueKey, wgpu.GPUBuffer] = field(default_factory=dict)
    outputs: list[_Value] = field(default_factory=list)

    @classmethod
    def load(cls, device: Device, wgsl: str, schedule: Schedule, inputs: Mapping[str, np.ndarray], weights: Mapping[str, np.ndarray],
             out_shape: tuple[int, ...], function: str = "bench") -> _Program:  # fmt: skip
        fn = schedule.functions.get(function)
        if fn is None:
            raise RustyError(f"the compiled schedule has no function '{function}'")
        prog = cls(device)
        host = _Host(weights)
        values: list[Buffer] = []
        args = list(fn.args)
        if [a.name for a in args[: len(inputs)]] != list(inputs):
            raise RustyError(f"function '{function}' takes {[a.name for a in args]}; expected {list(inputs)} first, then outputs")
        for arg in args:
            if arg.kind != "buffer":
                raise RustyError(f"function '{function}': scalar argument '{arg.name}' is not supported here")
            if arg.name in inputs:
                array = np.ascontiguousarray(inputs[arg.name])
                value = _Value(("arg", arg.name), array.nbytes)
                host.data[value.key] = array
                shape = array.shape
            else:
                shape = out_shape
                value = _Value(("arg", arg.name), int(np.prod(shape)) * ELEMENT_BYTES[arg.element_type or "f32"])
                prog.outputs.append(value)
            values.append(Buffer(value, tuple(shape)))
            host.sizes[value.key] = value.nbytes
        Executor(host, schedule.functions).call(fn, values, function)
        prog._make_buffers(host)
        prog._bind(wgsl, schedule, host.launches)
        return prog

    def _make_buffers(self, host: _Host) -> None:
        """One device buffer per value key (an argument, a weight, a ``rusty.slot`` shared by its allocs), checked
        against the device's limits first."""
        device = self.device
        limit = int(device.limits.get("max-storage-buffer-binding-size", 128 << 20))
        max_buffer = int(device.limits.get("max-buffer-size", 256 << 20))
        for key, n in host.sizes.items():
            what = f"{key[0]} '{key[1]}'"
            if n > limit:
                raise RustyError(f"{what} needs {n} bytes ({_bytes(n)}) in one binding; this device binds at most {limit} "
                                 f"({_bytes(limit)}, max-storage-buffer-binding-size): choose smaller sizes")  # fmt: skip
            if n > max_buffer:
                raise RustyError(f"{what} needs a buffer of {n} bytes; this device allows {max_buffer} (max-buffer-size)")
        for key, n in host.sizes.items():
            label = ":".join(map(str, key))
            self.buffers[key] = device.buffer(host.data[key], label=label) if key in host.data else device.empty(n, label=label)

    def _bind(self, wgsl: str, schedule: Schedule, launches: Sequence[tuple[Launch, list[_Value], list[int | float]]]) -> None:
        """The launches as bound dispatches, with the bytes each reads and writes."""
        device = self.device
        shader = device.compile(wgsl, label="bench-fusion")
        kernels: dict[str, Kernel] = {}
        max_groups = int(device.limits.get("max-compute-workgroups-per-dimension", 65535))
        for step, values, numbers in launches:
            iface = schedule.kernels[step.kernel]
            if step.kernel not in kernels:
                kernels[step.kernel] = device.kernel(shader, iface)
            grid = (int(numbers[0]), int(numbers[1]), int(numbers[2]))  # the launch's grid: ints (_Host.launch)
            if any(not 0 <= g <= max_groups for g in grid):
                raise RustyError(f"kernel '{step.kernel}': grid {grid} exceeds {max_groups} workgroups per dimension")
            params = None
            if iface.params is not None:
                params = {f.name: v for f, v in zip(iface.params.fields, numbers[3:], strict=True)}
            bound = kernels[step.kernel].bind([self.buffers[v.key] for v in values], params)
            read = sum(v.nbytes for v, b in zip(values, iface.buffers, strict=True) if b.access == "read")
            written = sum(v.nbytes for v, b in zip(values, iface.buffers, strict=True) if b.access != "read")
            self.dispatches.append(_Dispatch(step.kernel, bound, grid, read, written))

    def encode(
        self, encoder: wgpu.GPUCommandEncoder, timestamps: tuple[wgpu.GPUQuerySet, int] | None = None, only: int | None = None
    ) -> None:
        """One compute pass with every dispatch (or only dispatch ``only``), timestamps at its start and end."""
        kwargs: dict[str, object] = {}
        if timestamps is not None:
            query_set, index = timestamps
            kwargs["timestamp_writes"] = {"query_set": query_set, "beginning_of_pass_write_index": index,
                                          "end_of_pass_write_index": index + 1}  # fmt: skip
        compute = encoder.begin_compute_pass(**kwargs)
        for i, d in enumerate(self.dispatches):
            if only is not None and i != only:
                continue
            compute.set_pipeline(d.bound.kernel.pipeline)
            compute.set_bind_group(0, d.bound.bind_group)
            compute.dispatch_workgroups(*d.grid)
        compute.end()

    def read_output(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.device.read(self.buffers[self.outputs[0].key], np.float32, int(np.prod(shape))).reshape(shape)

    def release(self) -> None:
        for buf in self.buffers.values():
            buf.destroy()
        self.buffers.clear()


def _wait(device: Device, buffer: wgpu.GPUBuffer) -> None:
    """Block until the submitted work is done: map a 4-byte copy of ``buffer``."""
    import wgpu

    dev = device.device
    staging = dev.create_buffer(size=4, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)
    encoder = dev.create_command_encoder()
    encoder.copy_buffer_to_buffer(buffer, 0, staging, 0, 4)
    dev.queue.submit([encoder.finish()])
    staging.map_sync(wgpu.MapMode.READ)
    staging.unmap()
    staging.destroy()


def time_program(prog: _Program, repeats: int, warmup: int, timestamps: bool) -> dict[str, Any]:
    """Median seconds of a whole run of the variant, the runs, and per-dispatch medians (module docstring, step 3)."""
    import wgpu

    dev = prog.device.device
    sync_buffer = prog.buffers[prog.outputs[0].key]
    spin_up(prog.device)  # after compiling, the GPU is idle and at a low clock
    for _ in range(warmup):
        encoder = dev.create_command_encoder()
        prog.encode(encoder)
        dev.queue.submit([encoder.finish()])
        _wait(prog.device, sync_buffer)
    if not timestamps:
        runs = []
        for _ in range(repeats):
            encoder = dev.create_command_encoder()
            prog.encode(encoder)
            start = time.perf_counter()
            dev.queue.submit([encoder.finish()])
            _wait(prog.device, sync_buffer)
            runs.append(time.perf_counter() - start)
        return {"seconds": statistics.median(runs), "seconds_runs": runs, "per_dispatch_seconds": None, "note": ""}

    def stamped(passes: list[int | None]) -> tuple[np.ndarray, float]:
        """GPU seconds of each pass (None: every dispatch, i: dispatch i alone), all in one submit; and its wall time."""
        encoder = dev.create_command_encoder()
        chunks = []
        for first in range(0, len(passes), QUERIES_PER_SET // 2):
            chunk = passes[first : first + QUERIES_PER_SET // 2]
            query_set = dev.create_query_set(type=wgpu.QueryType.timestamp, count=2 * len(chunk))
            resolve = dev.create_buffer(size=16 * len(chunk), usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
            for j, only in enumerate(chunk):
                prog.encode(encoder, (query_set, 2 * j), only)
            encoder.resolve_query_set(query_set, 0, 2 * len(chunk), resolve, 0)
            chunks.append((query_set, resolve))
        start = time.perf_counter()
        dev.queue.submit([encoder.finish()])
        stamps = np.concatenate([np.frombuffer(dev.queue.read_buffer(resolve), np.uint64) for _, resolve in chunks])
        wall = time.perf_counter() - start
        for query_set, resolve in chunks:
            resolve.destroy()
            query_set.destroy()
        return (stamps[1::2].astype(np.int64) - stamps[0::2].astype(np.int64)).clip(min=0) * 1e-9, wall

    stamps, wall = stamped([None] * repeats)
    note = ""
    if stamps.sum() > 1.05 * wall:
        note = "GPU times exceed the wall time of their submit: this device's timestamp period is not 1 ns; times are off by it"
    count = len(prog.dispatches)
    per = None
    if count > 1:
        each, _ = stamped([i for _ in range(repeats) for i in range(count)])
        per = [float(np.median(each[i::count])) for i in range(count)]
    else:
        per = [float(np.median(stamps))]
    return {"seconds": float(np.median(stamps)), "seconds_runs": stamps.tolist(), "per_dispatch_seconds": per, "note": note}


def rel_err(out: np.ndarray, ref: np.ndarray) -> float:
    """max |out - ref| / max |ref| (inf when out has a non-finite value)."""
    if not np.isfinite(out).all():
        return math.inf
    return float(np.abs(out.astype(np.float64) - ref).max() / max(float(np.abs(ref).max()), 1e-30))


def _verdict(err: float, tol: float) -> dict[str, Any]:
    """The correctness entry of a variant; a non-finite output has max_rel_err None (JSON has no infinity)."""
    return {"max_rel_err": err if math.isfinite(err) else None, "tolerance": tol, "passed": bool(err <= tol)}


def _err_text(err: float | None) -> str:
    return "non-finite" if err is None else f"{err:.3g}"


def run_variant(device: Any, case: Case, fused: bool, target: str, opts: FusionOptions, timestamps: bool,
                reference: np.ndarray, progress: Callable[[str], None] | None) -> dict[str, Any]:  # fmt: skip
    """Compile, load, time and check one variant of ours; its report entry."""
    label = "fused" if fused else "unfused"
    _note(progress, f"{case.name}: compiling {label}")
    wgsl, schedule, seconds = compile_variant(case.ir, fused, target)
    prog = _Program.load(device, wgsl, schedule, case.inputs, case.weights, case.out_shape)
    try:
        _note(
            progress,
            f"{case.name}: timing {label} ({len(prog.dispatches)} dispatch{'es' if len(prog.dispatches) > 1 else ''}, {opts.warmup} warm-up + {opts.repeats} runs)",
        )
        timing = time_program(prog, opts.repeats, opts.warmup, timestamps)
        out = prog.read_output(case.out_shape)
    finally:
        prog.release()
    err = rel_err(out, reference)
    read = sum(d.read_bytes for d in prog.dispatches)
    written = sum(d.written_bytes for d in prog.dispatches)
    per = timing["per_dispatch_seconds"]
    return {
        "variant": f"ours {label}",
        "dispatches": len(prog.dispatches),
        "compile_seconds": round(seconds, 3),
        "seconds": timing["seconds"],
        "seconds_runs": timing["seconds_runs"],
        "bytes_read": read,
        "bytes_written": written,
        "bytes_moved": read + written,
        "gb_per_s": (read + written) / timing["seconds"] / 1e9 if timing["seconds"] > 0 else None,
        "by_dispatch": [
            {
                "kernel": d.kernel,
                "grid": list(d.grid),
                "bytes_read": d.read_bytes,
                "bytes_written": d.written_bytes,
                "seconds": per[i] if per else None,
            }
            for i, d in enumerate(prog.dispatches)
        ],
        "dtypes": case.dtypes,
        "timing_note": timing["note"],
        "correctness": _verdict(err, OURS_REL_TOL),
    }


# --- PyTorch -----------------------------------------------------------------------------------


def import_torch() -> Any:
    """torch, or a RustyError saying how to get it (it is not a dependency of rusty-ir)."""
    try:
        import torch
    except ImportError:
        raise RustyError(
            "--vs-torch needs PyTorch, which is not installed (pip install torch); it is not a dependency of rusty-ir"
        ) from None
    return torch


def torch_dtype_for(case: str, choice: str) -> str:
    if choice != "auto":
        return choice
    return "float32" if case == "elementwise" else "float16"


def run_torch(case: Case, opts: FusionOptions, reference: np.ndarray, progress: Callable[[str], None] | None) -> dict[str, Any]:
    """PyTorch eager, op by op, on the same inputs: its report entry (module docstring, step 6)."""
    torch = import_torch()
    import torch.nn.functional as F

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype_name = torch_dtype_for(case.name, opts.torch_dtype)
    dtype = getattr(torch, dtype_name)

    def t(a: np.ndarray) -> Any:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device=dev, dtype=dtype)

    ops: list[tuple[str, list[Any], Any]] = []  # (op, inputs, output) of one run, for the bytes model

    if case.name == "elementwise":
        a, b, c = (t(case.inputs[k]) for k in ("a", "b", "c"))

        def step(record: bool = False) -> Any:
            s = a + b
            out = s * c
            if record:
                ops.extend([("add", [a, b], s), ("mul", [s, c], out)])
            return out
    else:
        x, w, bias = t(case.inputs["x"]), t(case.weights["w"]), t(case.weights["bias"])
        wt = w.t()  # a view: no copy, cuBLAS reads W transposed

        def step(record: bool = False) -> Any:
            y = x @ wt
            z = y + bias
            out = F.gelu(z, approximate="tanh")
            if record:
                ops.extend([("matmul", [x, w], y), ("add", [y, bias], z), ("gelu", [z], out)])
            return out

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    _note(progress, f"{case.name}: timing PyTorch eager {dtype_name} on {dev} ({opts.warmup} warm-up + {opts.repeats} runs)")
    with torch.no_grad():
        for _ in range(max(1, opts.warmup)):  # at least one: torch's first call loads kernels
            step()
        sync()
        runs: list[float] = []
        for _ in range(opts.repeats):
            if dev.type == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                out = step()
                end.record()
                end.synchronize()
                runs.append(start.elapsed_time(end) * 1e-3)
            else:
                t0 = time.perf_counter()
                out = step()
                runs.append(time.perf_counter() - t0)
        out = step(record=True)
        sync()
    result = out.float().cpu().numpy()
    err = rel_err(result, reference)
    tol = TORCH_REL_TOL[dtype_name]
    by_op: list[dict[str, Any]] = [{"op": name, "bytes_read": sum(int(i.nelement() * i.element_size()) for i in ins),
              "bytes_written": int(o.nelement() * o.element_size())} for name, ins, o in ops]  # fmt: skip
    read = sum(o["bytes_read"] for o in by_op)
    written = sum(o["bytes_written"] for o in by_op)
    seconds = statistics.median(runs)
    dtypes = {k: dtype_name.replace("float", "f") for k in (*case.inputs, *case.weights, "out")}
    return {
        "variant": "pytorch eager",
        "dispatches": len(by_op),
        "seconds": seconds,
        "seconds_runs": runs,
        "bytes_read": read,
        "bytes_written": written,
        "bytes_moved": read + written,
        "gb_per_s": (read + written) / seconds / 1e9 if seconds > 0 else None,
        "by_op": by_op,
        "ops": case.torch_ops,
        "dtypes": dtypes,
        "device": str(dev),
        "timing_method": "CUDA events around the ops of one run" if dev.type == "cuda" else "wall clock (CPU)",
        "torch_version": torch.__version__,
        "cuda_device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        "correctness": _verdict(err, tol),
    }


# --- the benchmark ------------------------------------------------------------------------------


def _note(progress: Callable[[str], None] | None, message: str) -> None:
    if progress is not None:
        progress(message)


def run_fusion_bench(opts: FusionOptions, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every case; the report (a JSON-able dict). A failed guard does not raise here
    (``check_fusion_report`` does)."""
    from rusty_ir.bench import device_report, profiling_device
    from rusty_ir.targets import target_for_adapter

    validate(opts)
    if opts.vs_torch:
        import_torch()  # fail before any work
    started = datetime.datetime.now(datetime.UTC)
    device = profiling_device()
    check_device_fits(device, opts)
    timestamps = "timestamp-query" in device.features
    target = opts.target or target_for_adapter(device.info)
    _note(progress, f"device: {device_report(device)['name']} (target {target}; "
                    f"{'GPU timestamp queries' if timestamps else 'no timestamp-query: wall clock'})")  # fmt: skip
    cases = []
    for name in opts.cases:
        case = build_case(name, opts)
        _note(progress, f"{name}: numpy reference")
        reference = case.reference()
        variants = {
            "fused": run_variant(device, case, True, target, opts, timestamps, reference, progress),
            "unfused": run_variant(device, case, False, target, opts, timestamps, reference, progress),
        }
        if opts.vs_torch:
            variants["torch"] = run_torch(case, opts, reference, progress)
        fused, unfused = variants["fused"], variants["unfused"]
        ratio = fused["bytes_moved"] / unfused["bytes_moved"]
        entry: dict[str, Any] = {
            "case": name,
            "title": case.title,
            "shape": case.shape,
            "variants": variants,
            "traffic_ratio_fused_over_unfused": ratio,
            "traffic_cut": 1.0 - ratio,
            "cuts_more_than_half": bool(ratio < 0.5),
            "speedup_fused_over_unfused": unfused["seconds"] / fused["seconds"] if fused["seconds"] > 0 else None,
        }
        if name == "gemm" and fused["seconds"] > 0:
            m, k, n = opts.gemm
            entry["tflops_fused"] = 2 * m * k * n / fused["seconds"] / 1e12
        if "torch" in variants:
            t = variants["torch"]
            entry["traffic_ratio_fused_over_torch"] = fused["bytes_moved"] / t["bytes_moved"]
            entry["speedup_fused_over_torch"] = t["seconds"] / fused["seconds"] if fused["seconds"] > 0 else None
        cases.append(entry)
    peaks: dict[str, Any] = {}
    if "gemm" in opts.cases:  # what the contraction's arithmetic is measured against
        from rusty_ir.probes import measure_fma_peak

        for elem in ("f32", "f16") if "shader-f16" in device.features else ("f32",):
            _note(progress, f"measuring the {elem} fma peak")
            peaks[elem] = measure_fma_peak(device, elem)
    return {
        **report_header("rusty bench --fusion", opts.command or canonical_fusion_command(opts), opts, started, device),
        "target": target,
        "fma_peaks": peaks,
        "timing": {
            "method": "gpu-timestamps" if timestamps else "wall-clock",
            "description": (
                "GPU timestamps at the start and end of one compute pass holding the variant's dispatches (period taken as 1 ns)"
                if timestamps
                else (
                    "the adapter has no 'timestamp-query' feature: wall clock of each run submitted and awaited "
                    "(includes submit and read-back latency)"
                )
            ),
            "repeats": opts.repeats,
            "warmup": opts.warmup,
        },
        "bytes_model": (
            "per dispatch (or PyTorch op): every bound buffer once, at the size of the value bound; "
            "read-only bindings = read, writable = written; no cache effects, no re-reads from tiling"
        ),
        "cases": cases,
        "total_seconds": round((datetime.datetime.now(datetime.UTC) - started).total_seconds(), 3),
    }


def check_fusion_report(report: dict[str, Any]) -> None:
    """RustyError when a variant's result did not match numpy."""
    failed = [(c["case"], name, v["correctness"]) for c in report["cases"] for name, v in c["variants"].items()
              if not v["correctness"]["passed"]]  # fmt: skip
    if failed:
        case, name, c = failed[0]
        how = ("has non-finite values" if c["max_rel_err"] is None else
               f"differs from numpy by a max relative error of {c['max_rel_err']:.3g} > {c['tolerance']:g}")  # fmt: skip
        raise RustyError(f"correctness guard FAILED: {case} ({name}) {how}; the figures above are not to be trusted")


# --- printing ------------------------------------------------------------------------------------


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e5 else f"{n / 1e3:,.1f} kB"


def _time(s: float) -> str:
    return f"{s * 1e3:.3f} ms" if s >= 1e-4 else f"{s * 1e6:.1f} us"


def format_fusion_report(r: dict[str, Any]) -> str:
    """The report as a readable table."""
    d, t = r["device"], r["timing"]
    lines = [
        f"rusty bench --fusion: {d['name']} [{d['backend']}, {d['type']}] {d['driver']}; target {r['target']}",
        f"  timing: {t['description']}; median of {t['repeats']} after {t['warmup']} warm-up; commit {r['commit'] or '?'}; {r['date']}",
        f"  bytes moved: {r['bytes_model']}",
    ]
    for c in r["cases"]:
        shape = ", ".join(f"{k}={v}" for k, v in c["shape"].items())
        lines += ["", f"  {c['case']}: {c['title']} ({shape})"]
        lines.append(f"    {'variant':16s}{'dispatches':>11s}{'time':>14s}{'bytes moved':>16s}{'GB/s':>10s}{'max rel err':>13s}  dtypes")
        for v in c["variants"].values():
            gbs = f"{v['gb_per_s']:.4g}" if v["gb_per_s"] is not None else "?"
            ok = "" if v["correctness"]["passed"] else " FAILED"
            dtypes = ", ".join(f"{k} {ty}" for k, ty in v["dtypes"].items())
            label = v["variant"] + (f" ({v['device']})" if "device" in v else "")
            lines.append(f"    {label:16s}{v['dispatches']:>11d}{_time(v['seconds']):>14s}{_mb(v['bytes_moved']):>16s}{gbs:>10s}"
                         f"{_err_text(v['correctness']['max_rel_err']):>13s}{ok}  {dtypes}")  # fmt: skip
        for key in ("fused", "unfused"):
            v = c["variants"][key]
            if len(v["by_dispatch"]) > 1 or v["by_dispatch"][0]["seconds"] is not None:
                parts = [f"{e['kernel']} {_time(e['seconds'])}" if e["seconds"] is not None else e["kernel"] for e in v["by_dispatch"]]
                lines.append(f"      {key} kernels: {', '.join(parts)}")
            if v["timing_note"]:
                lines.append(f"      note: {v['timing_note']}")
        ratio = c["traffic_ratio_fused_over_unfused"]
        verdict = "yes" if c["cuts_more_than_half"] else "no"
        lines.append(f"    traffic fused/unfused = {ratio:.3f} (fusion cuts modelled traffic by {100 * c['traffic_cut']:.1f}%; "
                     f"more than half: {verdict}); time unfused/fused = {c['speedup_fused_over_unfused']:.2f}x")  # fmt: skip
        if "tflops_fused" in c:
            vs = ", ".join(f"{100 * c['tflops_fused'] * 1e12 / p['flops_per_s']:.0f}% of the measured {e} fma peak "
                           f"({p['flops_per_s'] / 1e12:.1f} TFLOP/s)" for e, p in r.get("fma_peaks", {}).items())  # fmt: skip
            lines.append(f"    fused: {c['tflops_fused']:.2f} TFLOP/s{'; ' + vs if vs else ''}")
        if "speedup_fused_over_torch" in c:
            tv = c["variants"]["torch"]
            lines.append(f"    vs PyTorch eager ({tv['ops']}; {tv['torch_version']}{', ' + tv['cuda_device'] if tv.get('cuda_device') else ''}): "
                         f"time torch/ours-fused = {c['speedup_fused_over_torch']:.2f}x, "
                         f"traffic ours-fused/torch = {c['traffic_ratio_fused_over_torch']:.3f}")  # fmt: skip
    return "\n".join(lines)


def fusion_main(opts: FusionOptions, as_json: bool, quiet: bool = False) -> int:
    """The ``rusty bench --fusion`` command: run, print (table or JSON), then fail on a failed guard."""
    return report_main(lambda progress: run_fusion_bench(opts, progress), format_fusion_report, check_fusion_report, as_json, quiet)


def canonical_fusion_command(opts: FusionOptions) -> str:
    """The ``rusty bench --fusion`` command line that reproduces ``opts``."""
    args = ["rusty", "bench", "--fusion", "--fusion-cases", ",".join(opts.cases), "--fusion-elements", str(opts.elements),
            "--fusion-gemm", "x".join(map(str, opts.gemm)), "--fusion-gemv", "x".join(map(str, opts.gemv)),
            "--repeats", str(opts.repeats), "--warmup", str(opts.warmup)]  # fmt: skip
    if opts.seed:
        args += ["--seed", str(opts.seed)]
    if opts.vs_torch:
        args += ["--vs-torch", "--torch-dtype", opts.torch_dtype]
    return shlex.join(args)


__all__ = [
    "CASES",
    "FusionOptions",
    "build_case",
    "canonical_fusion_command",
    "check_fusion_report",
    "compile_variant",
    "format_fusion_report",
    "fusion_main",
    "parse_cases",
    "parse_shape",
    "run_fusion_bench",
    "validate",
]
