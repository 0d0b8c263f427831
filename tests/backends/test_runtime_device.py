"""The wgpu device layer: uploads (also from an mmap), compile errors, batched dispatches, limits."""

from __future__ import annotations

import dataclasses
import mmap

import numpy as np
import pytest
from wgsl_harness import Runner, lit_program

from rusty_ir.backends.runtime import Device
from rusty_ir.errors import RustyError


def test_device_requests_features_and_limits(device: Device):
    assert {"shader-f16", "subgroup"} <= device.features  # llvmpipe offers both
    assert device.limits["max-storage-buffers-per-shader-stage"] >= 8
    assert device.limits["max-compute-workgroup-storage-size"] >= 16384


def test_upload_from_mmap_without_copy_and_odd_sizes(device: Device, tmp_path):
    data = np.arange(1001, dtype=np.uint8)  # not a multiple of 4 bytes
    path = tmp_path / "weights.bin"
    path.write_bytes(b"HEAD" + data.tobytes())
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)[4:]  # a slice of the mapping: no bytes object is made
        buf = device.buffer(view)
        view.release()
    back = device.read(buf, np.uint8)
    assert back.size == 1004 and (back[:1001] == data).all() and not back[1001:].any()


def test_large_writes_go_in_flushed_pieces(device: Device, monkeypatch: pytest.MonkeyPatch):
    """A write larger than FLUSH_BYTES is staged a piece at a time, at the right offsets."""
    device.flush()  # earlier writes to the shared device
    monkeypatch.setattr(Device, "FLUSH_BYTES", 64)
    flushes = []
    monkeypatch.setattr(device, "flush", lambda: (flushes.append(device._unflushed), setattr(device, "_unflushed", 0)))
    data = np.arange(1003, dtype=np.uint16).view(np.uint8)[:2005]  # 2005 bytes: 31 pieces and a tail
    buf = device.empty(2048)
    device.write(buf, data, offset=16)
    assert len(flushes) == 31 and max(flushes) == 64
    back = device.read(buf, np.uint8)
    assert (back[16 : 16 + 2005] == data).all() and not back[:16].any() and not back[2021:].any()


def test_compile_error_shows_the_wgsl_line(device: Device):
    source = "@compute @workgroup_size(1)\nfn main() {\n  let x: i32 = 1.5f;\n}\n"
    with pytest.raises(RustyError) as info:
        device.compile(source, label="broken")
    text = str(info.value)
    assert "WGSL compilation failed for broken" in text
    assert "    3 |   let x: i32 = 1.5f;" in text and "      | " in text


def test_several_dispatches_in_one_submit_see_each_other(device: Device, runner: Runner):
    program = lit_program("kernels/elementwise.mlir")
    kernel = runner.kernel(program, "add_mul")
    n = 256
    a, b, c = (np.full(n, v, np.float32) for v in (1.0, 2.0, 3.0))
    bufs = {k: device.buffer(v) for k, v in {"a": a, "b": b, "c": c}.items()}
    tmp, out = device.empty(4 * n), device.empty(4 * n)
    first = kernel.bind({**bufs, "out": tmp}, {"n": n})  # tmp = (1 + 2) * 3 = 9
    second = kernel.bind({"a": tmp, "b": bufs["a"], "c": bufs["c"], "out": out}, {"n": n})  # out = (9 + 1) * 3
    device.run([(first, (n // 64,)), (second, (n // 64,))])
    assert (device.read(out) == 30).all()
    second.set_params({"n": n // 2})  # reuse the bind group with new params
    device.write(out, np.zeros(n, np.float32))
    device.run([(first, (n // 64,)), (second, (n // 64,))])
    result = device.read(out)
    assert (result[: n // 2] == 30).all() and not result[n // 2 :].any()


def test_kernel_checks_device_limits_and_arguments(device: Device, runner: Runner):
    program = lit_program("kernels/softmax.mlir")
    shader = device.compile(program.source)
    iface = program.kernels[0]
    too_big = dataclasses.replace(iface, workgroup_memory_bytes=device.limits["max-compute-workgroup-storage-size"] + 4)
    with pytest.raises(RustyError, match="bytes of workgroup memory"):
        device.kernel(shader, too_big)
    kernel = device.kernel(shader, iface)
    with pytest.raises(RustyError, match="no buffer given for"):
        kernel.bind({"x": device.empty(16)}, {"n": 4})
    with pytest.raises(RustyError, match="needs params"):
        kernel.bind([device.empty(16), device.empty(16)])
