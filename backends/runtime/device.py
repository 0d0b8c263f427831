"""The wgpu device layer: adapter and device, buffers, WGSL compilation, pipelines and batched dispatches.

No xDSL here: it runs kernels described by ``kernel_abi.KernelInterface``.
Typical use::

    dev = Device()
    shader = dev.compile(wgsl_source)                 # RustyError pointing at the bad WGSL line
    kernel = dev.kernel(shader, interface)            # pipeline + bind group layout, built once
    x = dev.buffer(np.ones(1024, np.float32))         # or bytes / a memoryview of an mmap
    y = dev.empty(4096)
    step = kernel.bind([x, y], {"n": 1024})           # bind group + params buffer, built once
    dev.run([(step, (16, 1, 1))])                     # all dispatches: one encoder, one submit
    out = dev.read(y, np.float32)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from rusty_ir.backends.runtime.kernel_abi import KernelInterface
from rusty_ir.backends.runtime.quiet import quiet_window_system
from rusty_ir.errors import RustyError

quiet_window_system()
import wgpu  # noqa: E402 - after the environment fix above

WANTED_FEATURES: tuple[str, ...] = ("shader-f16", "subgroup", "timestamp-query", "mappable-primary-buffers")
"""Optional features requested when the adapter has them. ``mappable-primary-buffers``: the KV-cache offload's
host blocks in host memory (``offload.HOST_USAGE``); it changes nothing for buffers without a map usage."""


def _not_the_mappable_warning(record: logging.LogRecord) -> bool:
    """wgpu warns when ``mappable-primary-buffers`` is enabled on a discrete GPU (mapped buffers are slow for the
    GPU to use); the runtime asks for it for exactly that placement (host memory), so the warning is dropped."""
    return "MAPPABLE_PRIMARY_BUFFERS" not in record.getMessage()


logging.getLogger("wgpu").addFilter(_not_the_mappable_warning)

WANTED_LIMITS: tuple[str, ...] = (
    "max-buffer-size",
    "max-storage-buffer-binding-size",
    "max-storage-buffers-per-shader-stage",
    "max-uniform-buffer-binding-size",
    "max-bindings-per-bind-group",
    "max-compute-workgroup-storage-size",
    "max-compute-invocations-per-workgroup",
    "max-compute-workgroup-size-x",
    "max-compute-workgroup-size-y",
    "max-compute-workgroup-size-z",
    "max-compute-workgroups-per-dimension",
)
"""Limits raised to what the adapter offers (compute-related ones only; WebGPU defaults otherwise)."""

NATIVE_BACKENDS: tuple[str, ...] = ("Vulkan", "Metal", "D3D12")
"""wgpu backends the runtime prefers; OpenGL (and WebGL) adapters lack compute features (f16, subgroups)
and are used only when nothing else is there."""


class PassEncoder:
    """Records dispatches into one compute pass, through wgpu-native's C functions when they are reachable.

    wgpu-py's ``set_bind_group`` allocates a cffi array on every call and each
    method checks for errors: about 2 µs a call, 5 µs a dispatch, which for a
    small model is as long as the GPU's work on it. The C calls record the same
    commands; wgpu validates them when the pass ends, as it does anyway. Where
    wgpu-py's internals differ (another version), the public API is used.
    """

    def __init__(self, compute: wgpu.GPUComputePassEncoder) -> None:
        self.compute = compute
        try:
            from wgpu.backends.wgpu_native._ffi import ffi, lib

            self._raw = compute._internal
            self._null = ffi.NULL
            self._set_pipeline = lib.wgpuComputePassEncoderSetPipeline
            self._set_bind_group = lib.wgpuComputePassEncoderSetBindGroup
            self._dispatch = lib.wgpuComputePassEncoderDispatchWorkgroups
        except (ImportError, AttributeError):
            self._raw = None

    def dispatch(
        self, pipeline: wgpu.GPUComputePipeline, bind_group: wgpu.GPUBindGroup, x: int, y: int, z: int, same_pipeline: bool = False
    ) -> None:
        if self._raw is None:
            if not same_pipeline:
                self.compute.set_pipeline(pipeline)
            self.compute.set_bind_group(0, bind_group)
            self.compute.dispatch_workgroups(x, y, z)
            return
        if not same_pipeline:
            self._set_pipeline(self._raw, pipeline._internal)
        self._set_bind_group(self._raw, 0, bind_group._internal, 0, self._null)
        self._dispatch(self._raw, x, y, z)

    def end(self) -> None:
        self.compute.end()


class MappedReader:
    """Submits command buffers and reads mappable buffers back, waiting on the calling thread.

    wgpu-py's ``map_sync`` submits an empty command buffer first (its "sync on read", for buffers written by
    ``write_buffer``), wakes its poll thread, which waits for the whole queue, runs the map's callback and wakes
    the caller again. A step's read-back maps a buffer that a submitted copy wrote, so here the C calls map it
    and wait on this thread for the submission that wrote it only (``submit`` returns its index): no extra submit,
    no thread hand-offs, and a later step may already be queued behind it (``ModelRuntime.decode_stream``).
    Where wgpu-py's internals differ (another version), wgpu-py's calls are used and ``per_submission`` is False:
    a read then waits for every submission.
    """

    def __init__(self, device: wgpu.GPUDevice) -> None:
        self._queue = device.queue
        try:
            from wgpu.backends.wgpu_native._ffi import ffi, lib

            self._device, self._raw_queue = device._internal, device.queue._internal
            self._ffi, self._lib = ffi, lib
            self._status: int | None = None

            @ffi.callback("void(WGPUMapAsyncStatus, WGPUStringView, void *, void *)")
            def mapped(status: int, message: Any, userdata1: Any, userdata2: Any) -> None:
                self._status = status

            self._callback = mapped  # kept alive as long as the info that points at it
            self._info = ffi.new("WGPUBufferMapCallbackInfo *", {"mode": lib.WGPUCallbackMode_AllowProcessEvents, "callback": mapped})
            self._index = ffi.new("WGPUSubmissionIndex *")
            self.per_submission = True
        except (ImportError, AttributeError):
            self.per_submission = False
        """Whether ``read`` can wait for one submission (else it waits for the whole queue)."""
        self.spin = False
        """Whether ``read`` waits by polling without blocking (a host core busy while it waits) rather than in a
        blocking poll: on an H100's host 0.03-0.05 ms sooner a synchronous step (BENCHMARKS.md, issue 15); on a
        CPU adapter slower (llvmpipe's threads want the cores). ``ModelRuntime`` sets it for GPU adapters."""

    def submit(self, commands: wgpu.GPUCommandBuffer) -> int:
        """Submit one command buffer; its submission index (0 where ``per_submission`` is False)."""
        if not self.per_submission:
            self._queue.submit([commands])
            return 0
        return int(self._lib.wgpuQueueSubmitForIndex(self._raw_queue, 1, self._ffi.new("WGPUCommandBuffer[]", [commands._internal])))

    def read(self, buffer: wgpu.GPUBuffer, nbytes: int, after: int | None = None, meanwhile: Callable[[], bool] | None = None) -> bytearray:
        """The first ``nbytes`` (a multiple of 4) of ``buffer`` (``MAP_READ``) once submission ``after`` (from
        ``submit``) has run; None: once everything submitted has run. ``meanwhile`` (where ``per_submission``) is
        called between non-blocking polls until the buffer is ready or it returns False (it has nothing left to do):
        work for the host while the GPU runs (``ahead.py``)."""
        if not self.per_submission:
            buffer.map_sync(wgpu.MapMode.READ, 0, nbytes)
            data = bytearray(buffer.read_mapped(0, nbytes, copy=False))
            buffer.unmap()
            return data
        lib, ffi, raw = self._lib, self._ffi, buffer._internal
        index = ffi.NULL
        if after is not None:
            index = self._index
            index[0] = after
        self._status = None
        lib.wgpuBufferMapAsync(raw, lib.WGPUMapMode_Read, 0, nbytes, self._info[0])
        # non-blocking polls while the host has work or spins; the callback runs inside the poll that finds it done
        while self._status is None and ((meanwhile is not None and meanwhile()) or self.spin):
            lib.wgpuDevicePoll(self._device, False, ffi.NULL)
        while self._status is None:  # the callback runs inside a poll that waits for the submission
            lib.wgpuDevicePoll(self._device, True, index)
            index = ffi.NULL  # should it not have run yet, wait for everything
        if self._status != lib.WGPUMapAsyncStatus_Success:
            raise RustyError(f"could not map the buffer '{buffer.label}' to read it back (wgpu map status {self._status})")
        data = bytearray(ffi.buffer(lib.wgpuBufferGetConstMappedRange(raw, 0, nbytes), nbytes))
        lib.wgpuBufferUnmap(raw)
        return data


_TYPE_RANK = {"DiscreteGPU": 0, "IntegratedGPU": 1, "VirtualGPU": 2, "CPU": 3}


def pick_adapter(infos: Sequence[Mapping[str, str | int]]) -> tuple[int | None, str]:
    """Which of these adapters (their ``info``) kernels run on, and why: a Vulkan, Metal or DX12 one
    when there is one, discrete GPUs first, then integrated, virtual and software (CPU) ones. (None,
    why) when there is none: then wgpu chooses (``choose_adapter``)."""
    native = [i for i, info in enumerate(infos) if info.get("backend_type") in NATIVE_BACKENDS]
    if not native:
        return None, "no Vulkan, Metal or DX12 adapter: wgpu's own choice"
    best = min(native, key=lambda i: _TYPE_RANK.get(str(infos[i].get("adapter_type", "")), 4))
    if len(native) == 1:
        return best, f"the only {infos[best].get('backend_type')} adapter (Vulkan, Metal and DX12 come before OpenGL)"
    kind = infos[best].get("adapter_type", "?")
    return best, f"a {kind}: first of the {len(native)} Vulkan/Metal/DX12 adapters (discrete, integrated, virtual, then CPU)"


def choose_adapter(power_preference: str = "high-performance") -> wgpu.GPUAdapter | None:
    """The adapter kernels run on (``pick_adapter``), else wgpu's own choice for ``power_preference``
    (an OpenGL one); None when there is none."""
    adapters = list(wgpu.gpu.enumerate_adapters_sync())
    best, _ = pick_adapter([a.info for a in adapters])
    if best is not None:
        return adapters[best]
    return wgpu.gpu.request_adapter_sync(power_preference=power_preference)


def adapter_warning(adapter: wgpu.GPUAdapter) -> str | None:
    """A warning for an adapter that makes a slow run (software rendering on the CPU, or OpenGL); None otherwise."""
    info = adapter.info
    name = info.get("device") or info.get("description") or "?"
    if info.get("backend_type") not in NATIVE_BACKENDS:
        return (f"running on '{name}' through {info.get('backend_type')}: an OpenGL adapter lacks compute features and "
                "encodes slowly; install a Vulkan driver (Linux: Debian package mesa-vulkan-drivers), or try --backend reference")  # fmt: skip
    if info.get("adapter_type") == "CPU":
        return f"running on '{name}', a software {info.get('backend_type')} driver on the CPU: expect a few tokens/s; a GPU driver is far faster"
    return None


BytesLike = np.ndarray | bytes | bytearray | memoryview
"""Data a buffer is made from or written with: an array (made contiguous), bytes, or a view (of an mmap: no copy)."""

STORAGE_USAGE = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
_WGSL_LOCATION = re.compile(r"┌─ .*:(\d+):(\d+)")  # naga: "┌─ <label or wgsl>:LINE:COL"


def as_bytes_view(data: BytesLike) -> memoryview:
    """A flat byte view of an ndarray, bytes or memoryview (no copy when already contiguous)."""
    view = np.ascontiguousarray(data).data if isinstance(data, np.ndarray) else memoryview(data)
    if not view.c_contiguous:
        raise RustyError("buffer data must be contiguous")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def wgsl_error_context(message: str, source: str, context: int = 1) -> str:
    """The WGSL lines around each ``LINE:COL`` a naga message points at, with a caret under the column."""
    lines = source.splitlines()
    shown: list[str] = []
    for match in _WGSL_LOCATION.finditer(message):
        line, col = int(match.group(1)), int(match.group(2))
        for n in range(max(1, line - context), min(len(lines), line + context) + 1):
            shown.append(f"{n:5d} | {lines[n - 1]}")
            if n == line:
                shown.append("      | " + " " * (col - 1) + "^")
    return "\n".join(shown)


@dataclass
class Kernel:
    """A compiled kernel: its interface, compute pipeline and bind group layout (built once)."""

    device: Device
    interface: KernelInterface
    pipeline: wgpu.GPUComputePipeline
    layout: wgpu.GPUBindGroupLayout

    def bind(
        self,
        buffers: Sequence[wgpu.GPUBuffer] | Mapping[str, wgpu.GPUBuffer],
        params: Mapping[str, float | int | bool] | Sequence[float | int | bool] | None = None,
    ) -> BoundKernel:
        """A bind group for these storage buffers (in binding order, or by argument name) and params."""
        iface = self.interface
        if isinstance(buffers, Mapping):
            missing = [b.name for b in iface.buffers if b.name not in buffers]
            if missing:
                raise RustyError(f"kernel {iface.name}: no buffer given for {missing}")
            ordered = [buffers[b.name] for b in iface.buffers]
        else:
            ordered = list(buffers)
        if len(ordered) != len(iface.buffers):
            raise RustyError(f"kernel {iface.name} takes {len(iface.buffers)} buffers, got {len(ordered)}")
        entries: list[dict[str, object]] = [
            {"binding": b.binding, "resource": b.resource(buf)} for b, buf in zip(iface.buffers, ordered, strict=True)
        ]
        params_buffer = None
        if iface.params is not None:
            if params is None:
                raise RustyError(f"kernel {iface.name} needs params {[f.name for f in iface.params.fields]}")
            params_buffer = self.device.device.create_buffer_with_data(
                data=iface.params.pack(params), usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST
            )
            entries.append({"binding": iface.params.binding, "resource": {"buffer": params_buffer, "offset": 0, "size": iface.params.size}})
        elif params:
            raise RustyError(f"kernel {iface.name} takes no params")
        group = self.device.device.create_bind_group(layout=self.layout, entries=entries, label=iface.name)
        return BoundKernel(self, group, params_buffer)


@dataclass
class BoundKernel:
    """A kernel with its bind group: ready to dispatch any number of times."""

    kernel: Kernel
    bind_group: wgpu.GPUBindGroup
    params_buffer: wgpu.GPUBuffer | None = None

    def set_params(self, params: Mapping[str, float | int | bool] | Sequence[float | int | bool]) -> None:
        """Rewrite the params (takes effect for dispatches submitted after this call)."""
        layout = self.kernel.interface.params
        if layout is None or self.params_buffer is None:
            raise RustyError(f"kernel {self.kernel.interface.name} takes no params")
        self.kernel.device.device.queue.write_buffer(self.params_buffer, 0, layout.pack(params))


def adapter_identity(adapter: wgpu.GPUAdapter) -> str:
    """vendor/device/backend/driver of a wgpu adapter."""
    info = adapter.info
    return f"{info.get('vendor', '')}/{info.get('device', '')}/{info.get('backend_type', '')}/{info.get('description', '')}"


def adapter_summary(adapter: wgpu.GPUAdapter) -> dict[str, str]:
    """Name, vendor, backend, type and driver of a wgpu adapter, for reports."""
    info = dict(adapter.info)
    return {
        "name": info.get("device") or info.get("description") or "?",
        "vendor": info.get("vendor", ""),
        "backend": info.get("backend_type", "?"),
        "type": info.get("adapter_type", "?"),
        "driver": info.get("description", ""),
    }


@dataclass
class Device:
    """One wgpu adapter and device with the optional features and limits it offers."""

    power_preference: str = "high-performance"
    adapter: wgpu.GPUAdapter = None
    """Chosen by ``choose_adapter`` when not given."""
    device: wgpu.GPUDevice = None
    """Requested from the adapter (with ``WANTED_FEATURES`` and ``WANTED_LIMITS``) when not given."""
    features: frozenset[str] = field(default_factory=frozenset[str])
    limits: dict[str, int] = field(default_factory=dict[str, int])
    _fence: wgpu.GPUBuffer | None = field(default=None, repr=False)
    """A 4-byte buffer ``flush`` reads back to wait for the queue."""
    _unflushed: int = field(default=0, repr=False)
    """Bytes written since the last flush."""

    FLUSH_BYTES: ClassVar[int] = 64 << 20
    """``write`` flushes after this many bytes: wgpu keeps a staging copy of every write until the
    queue's next submit, so uploading a model unflushed would hold it twice where GPU memory is host memory."""

    def __post_init__(self) -> None:
        if self.adapter is None:
            self.adapter = choose_adapter(self.power_preference)
        if self.adapter is None:
            raise RustyError("no WebGPU adapter found (on a machine without a GPU, install mesa-vulkan-drivers)")
        if self.device is None:
            offered = set(self.adapter.features)
            features = [f for f in WANTED_FEATURES if f in offered]
            limits = {k: self.adapter.limits[k] for k in WANTED_LIMITS if k in self.adapter.limits}
            self.device = self.adapter.request_device_sync(required_features=features, required_limits=limits)
        self.features = frozenset(self.device.features)
        self.limits = dict(self.device.limits)

    @property
    def info(self) -> dict[str, Any]:
        """The adapter's info: names (``vendor``, ``device``, ``backend_type``, ...) and numeric ids."""
        return dict(self.adapter.info)

    @property
    def identity(self) -> str:
        """vendor/device/backend/driver: what the compile cache keys compiled kernels by."""
        return adapter_identity(self.adapter)

    # -- buffers -----------------------------------------------------------

    def empty(self, nbytes: int, *, label: str = "") -> wgpu.GPUBuffer:
        """A zero-filled storage buffer of at least ``nbytes`` (rounded up to 4)."""
        return self.device.create_buffer(size=max(4, -(-nbytes // 4) * 4), usage=STORAGE_USAGE, label=label)

    def buffer(self, data: BytesLike, *, label: str = "") -> wgpu.GPUBuffer:
        """A storage buffer holding ``data`` (ndarray, bytes, or a memoryview, e.g. of an mmap, uploaded without a host copy)."""
        view = as_bytes_view(data)
        buf = self.empty(view.nbytes, label=label)
        self.write(buf, view)
        return buf

    def write(self, buffer: wgpu.GPUBuffer, data: BytesLike, offset: int = 0) -> None:
        """Copy ``data`` into ``buffer`` at byte ``offset`` (a multiple of 4); sizes need not be.

        Large data goes in pieces of ``FLUSH_BYTES``, flushed as they add up, so wgpu's staging
        copies never exceed that (a 295 MB embedding would otherwise be staged whole)."""
        view = as_bytes_view(data)
        aligned = view.nbytes // 4 * 4
        for start in range(0, aligned, self.FLUSH_BYTES):
            piece = view[start : min(aligned, start + self.FLUSH_BYTES)]  # a slice of a view: no copy
            self.device.queue.write_buffer(buffer, offset + start, piece)
            self._count(piece.nbytes)
        if aligned != view.nbytes:
            tail = bytes(view[aligned:]) + bytes(4 - (view.nbytes - aligned))  # WebGPU writes whole words
            self.device.queue.write_buffer(buffer, offset + aligned, tail)
            self._count(len(tail))

    def _count(self, nbytes: int) -> None:
        self._unflushed += nbytes
        if self._unflushed >= self.FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Submit the pending ``write``s and wait for them, so wgpu frees their staging copies."""
        if self._fence is None:
            self._fence = self.empty(4, label="flush")
        self.device.queue.read_buffer(self._fence)  # submits (pending writes go first) and waits
        self._unflushed = 0

    def read(self, buffer: wgpu.GPUBuffer, dtype: npt.DTypeLike = np.float32, count: int | None = None) -> np.ndarray:
        """Read a buffer back (waits for submitted work) as ``count`` elements of ``dtype``."""
        data = self.device.queue.read_buffer(buffer)
        return np.frombuffer(data, dtype=dtype, count=-1 if count is None else count).copy()

    # -- kernels -----------------------------------------------------------

    def compile(self, source: str, *, label: str = "") -> wgpu.GPUShaderModule:
        """Compile WGSL; a compilation error becomes a RustyError showing the WGSL line it points at."""
        try:
            return self.device.create_shader_module(code=source, label=label)
        except wgpu.GPUError as error:
            message = str(getattr(error, "message", error))
            raise RustyError(
                f"WGSL compilation failed{' for ' + label if label else ''}:\n{message.strip()}\n{wgsl_error_context(message, source)}"
            ) from None

    def kernel(self, shader: wgpu.GPUShaderModule, interface: KernelInterface) -> Kernel:
        """The compute pipeline of one entry point of a compiled WGSL module, with an explicit bind group layout."""
        self._check_requirements(interface)
        storage = {
            "read": wgpu.BufferBindingType.read_only_storage,
            "read_write": wgpu.BufferBindingType.storage,
        }
        entries: list[dict[str, object]] = [
            {"binding": b.binding, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": storage[b.access]}} for b in interface.buffers
        ]
        if interface.params is not None:
            entries.append(
                {
                    "binding": interface.params.binding,
                    "visibility": wgpu.ShaderStage.COMPUTE,
                    "buffer": {"type": wgpu.BufferBindingType.uniform},
                }
            )
        try:
            layout = self.device.create_bind_group_layout(entries=entries, label=interface.name)
            pipeline_layout = self.device.create_pipeline_layout(bind_group_layouts=[layout])
            pipeline = self.device.create_compute_pipeline(
                layout=pipeline_layout, compute={"module": shader, "entry_point": interface.entry_point}, label=interface.name
            )
        except wgpu.GPUError as error:
            raise RustyError(f"cannot build the pipeline of kernel {interface.name}: {getattr(error, 'message', error)}") from None
        return Kernel(self, interface, pipeline, layout)

    def _check_requirements(self, iface: KernelInterface) -> None:
        if iface.uses_f16 and "shader-f16" not in self.features:
            raise RustyError(f"kernel {iface.name} uses f16 but the device has no shader-f16 feature")
        if iface.uses_subgroups and "subgroup" not in self.features:
            raise RustyError(f"kernel {iface.name} uses subgroup ops but the device has no subgroup feature")
        checks = [
            (len(iface.buffers), "max-storage-buffers-per-shader-stage", "storage buffers"),
            (iface.workgroup_memory_bytes, "max-compute-workgroup-storage-size", "bytes of workgroup memory"),
            (int(np.prod(iface.workgroup_size)), "max-compute-invocations-per-workgroup", "invocations per workgroup"),
        ]
        for value, limit, what in checks:
            if value > self.limits.get(limit, value):
                raise RustyError(f"kernel {iface.name} needs {value} {what}; the device allows {self.limits[limit]} ({limit})")

    def run(self, dispatches: Sequence[tuple[BoundKernel, Sequence[int]]]) -> None:
        """Encode every (kernel, workgroup counts) dispatch in order into one compute pass and submit once.

        WebGPU orders the dispatches of a pass: a dispatch sees the storage
        writes of the ones before it.
        """
        encoder = self.device.create_command_encoder()
        compute = PassEncoder(encoder.begin_compute_pass())
        for bound, grid in dispatches:
            x, y, z = (list(grid) + [1, 1])[:3]
            compute.dispatch(bound.kernel.pipeline, bound.bind_group, x, y, z)
        compute.end()
        self.device.queue.submit([encoder.finish()])
