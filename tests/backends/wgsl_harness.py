"""Runs the kernels of lit_tests/backends/wgsl/*.mlir on the wgpu adapter, so text and execution tests share IR."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith, builtin, func, gpu, math, memref, scf, vector
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from rusty_ir.backends.runtime import Device
from rusty_ir.backends.wgsl import WgslProgram, emit_program
from rusty_ir.dialects.gpu import RGpu

LIT_DIR = Path(__file__).resolve().parents[2] / "lit_tests" / "backends" / "wgsl"


def context() -> Context:
    ctx = Context()
    for dialect in (builtin.Builtin, func.Func, arith.Arith, math.Math, memref.MemRef, scf.Scf, gpu.GPU, vector.Vector, RGpu):
        ctx.load_dialect(dialect)
    return ctx


def parse(text: str) -> ModuleOp:
    module = Parser(context(), text).parse_module()
    module.verify()
    return module


@functools.cache
def lit_program(relpath: str) -> WgslProgram:
    """The emitted program of one lit input file (relative to lit_tests/backends/wgsl)."""
    return emit_program(parse((LIT_DIR / relpath).read_text()))


class Runner:
    """Compiles each program once per device and runs single kernels with numpy inputs."""

    def __init__(self, device: Device):
        self.device = device
        self._shaders: dict[str, Any] = {}

    def kernel(self, program: WgslProgram, name: str) -> Any:
        if program.source not in self._shaders:
            self._shaders[program.source] = self.device.compile(program.source)
        iface = next(k for k in program.kernels if k.name == name)
        return self.device.kernel(self._shaders[program.source], iface)

    def run(
        self,
        program: WgslProgram | str,
        name: str,
        grid: Sequence[int],
        inputs: Mapping[str, np.ndarray],
        outputs: Mapping[str, tuple[Any, tuple[int, ...]]],
        params: Mapping[str, float | int | bool] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run kernel ``name`` once; outputs are (dtype, shape) of zero-initialised buffers."""
        if isinstance(program, str):
            program = lit_program(program)
        kernel = self.kernel(program, name)
        buffers = {k: self.device.buffer(v) for k, v in inputs.items()}
        for k, (dtype, shape) in outputs.items():
            buffers[k] = self.device.empty(int(np.prod(shape)) * np.dtype(dtype).itemsize)
        bound = kernel.bind(buffers, params)
        self.device.run([(bound, grid)])
        return {k: self.device.read(buffers[k], dtype, int(np.prod(shape))).reshape(shape) for k, (dtype, shape) in outputs.items()}
