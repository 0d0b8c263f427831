"""Per-kernel GPU time (``ModelRuntime.profile_step``, ``rusty bench --profile``): every dispatch of one step in its
own compute pass with timestamp writes at its beginning and end. Not on the per-step path."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import wgpu

from rusty_ir.backends.runtime.device import Device
from rusty_ir.backends.runtime.plan import Dispatch, Values

QUERIES_PER_SET = 4096
"""wgpu's limit on the queries of one query set."""


def timed_dispatches(device: Device, dispatches: Sequence[Dispatch], values: Values) -> np.ndarray:
    """Run ``dispatches`` ((pipeline, bind group, grid x, y, z value indices, guard), at these expression ``values``)
    in one command buffer, a compute pass each; the nanoseconds each took (int64, in order). The device must have
    the 'timestamp-query' feature."""
    dev = device.device
    per_set = QUERIES_PER_SET // 2
    encoder = dev.create_command_encoder()
    resolved = []
    for start in range(0, len(dispatches), per_set):
        chunk = dispatches[start : start + per_set]
        count = 2 * len(chunk)
        query_set = dev.create_query_set(type=wgpu.QueryType.timestamp, count=count)
        for j, (pipeline, group, gx, gy, gz, _) in enumerate(chunk):
            compute = encoder.begin_compute_pass(
                timestamp_writes={"query_set": query_set, "beginning_of_pass_write_index": 2 * j, "end_of_pass_write_index": 2 * j + 1}
            )
            compute.set_pipeline(pipeline)
            compute.set_bind_group(0, group)
            compute.dispatch_workgroups(values[gx], values[gy], values[gz])
            compute.end()
        buf = dev.create_buffer(size=8 * count, usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
        encoder.resolve_query_set(query_set, 0, count, buf, 0)
        resolved.append(buf)
    dev.queue.submit([encoder.finish()])
    stamps = np.concatenate([np.frombuffer(dev.queue.read_buffer(b), np.uint64) for b in resolved])
    return (stamps[1::2].astype(np.int64) - stamps[0::2].astype(np.int64)).clip(min=0)
