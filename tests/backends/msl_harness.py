"""Compiles MSL kernels with clang++ against the stand-in <metal_stdlib> and runs them on the CPU.

For one ``MslProgram`` it writes a C++ file: ``#include`` of the MSL source, then
a generated driver that calls each kernel the way Metal binds it (buffers by
``[[buffer(i)]]``, builtins by attribute), with pointers typed from the kernel's
*interface* (``device T*``, ``constant Params&``) so that a parameter with the wrong
address space or element type does not compile. That file is built with
``clang++ -std=c++14 -fno-exceptions -fno-rtti`` against ``msl_standin/`` and
linked with ``msl_runtime.cpp`` (C++20: one OS thread per GPU thread, threadgroups
one at a time, ``std::barrier``), loaded with ctypes and run on numpy arrays.

``MslRunner.run`` has the signature of ``wgsl_harness.Runner.run``, so the
execution tests run every construct on both backends. Where ``xcrun metal``
exists (a Mac), ``metal_compile`` also compiles the source with Metal's compiler.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rusty_ir.backends.msl import MslProgram, emit_program
from rusty_ir.backends.runtime.kernel_abi import KernelInterface

STANDIN = Path(__file__).resolve().parent / "msl_standin"
LIT_DIR = Path(__file__).resolve().parents[2] / "lit_tests" / "backends" / "wgsl"
SIMD_WIDTH = 32  # the apple target description's subgroup_size
KERNEL_FLAGS = ("-std=c++14", "-nostdinc++", "-fno-exceptions", "-fno-rtti", "-Wall", "-Wno-unused-variable", "-Wno-unused-but-set-variable",
                "-Wno-unknown-attributes", "-Werror=return-type", "-O1", "-fPIC")  # fmt: skip

_C_TYPES = {"f32": "float", "f16": "half", "i32": "int"}
_NP_TYPES = {"f32": np.float32, "f16": np.float16, "i32": np.int32}
BUILTIN_VALUES = {
    # MSL attribute -> the driver's expression of it (rusty_ctx in msl_runtime.cpp)
    "thread_position_in_threadgroup": "rusty_u3(c->lid)",
    "threadgroup_position_in_grid": "rusty_u3(c->wid)",
    "threadgroups_per_grid": "rusty_u3(c->nwg)",
    "thread_position_in_grid": "rusty_u3(c->gid)",
    "thread_index_in_simdgroup": "c->simd_lane",
    "threads_per_simdgroup": "c->simd_size",
}

_SIGNATURE = re.compile(r"^kernel void (\w+)\((.*?)\) \{$", re.MULTILINE | re.DOTALL)
_PARAM = re.compile(r"^(.*?)\s*(\w+) \[\[(\w+)(?:\((\d+)\))?\]\]$")


@functools.cache
def clang() -> str:
    """The first clang++ with x86 ``_Float16`` (MSL's ``half``; clang >= 15): ``clang++``, else the newest ``clang++-N``.

    A missing compiler is a failure, not a skip: ``scripts/setup.sh`` installs Debian's clang.
    """
    versioned = sorted(Path("/usr/bin").glob("clang++-[0-9]*"), key=lambda p: -int(p.name.rsplit("-", 1)[1]))
    for cxx in ["clang++", *map(str, versioned)]:
        if shutil.which(cxx) is None:
            continue
        probe = subprocess.run([cxx, "-x", "c++", "-fsyntax-only", "-"], input="_Float16 f(_Float16 a) { return a + a; }",
                               capture_output=True, text=True, check=False)  # fmt: skip
        if probe.returncode == 0:
            return cxx
    raise RuntimeError("no clang++ with _Float16 (clang >= 15) is installed: run `bash scripts/setup.sh` (Debian clang)")


@dataclass(frozen=True)
class KernelParam:
    """One parameter of a printed kernel signature: its type text, name and MSL attribute."""

    type: str
    name: str
    attribute: str
    index: int | None


def signatures(source: str) -> dict[str, list[KernelParam]]:
    """The parameters of every ``kernel void`` in ``source``, as printed."""
    out: dict[str, list[KernelParam]] = {}
    for m in _SIGNATURE.finditer(source):
        params = []
        for text in m.group(2).split(",\n"):
            p = _PARAM.match(text.strip())
            if p is None:
                raise AssertionError(f"kernel {m.group(1)}: parameter without an MSL attribute: {text.strip()!r}")
            params.append(KernelParam(p.group(1), p.group(2), p.group(3), None if p.group(4) is None else int(p.group(4))))
        out[m.group(1)] = params
    return out


def check_binding(iface: KernelInterface, params: Sequence[KernelParam]) -> None:
    """The printed signature binds what the interface (and so the host schedule) says, where it says."""
    buffers = [p for p in params if p.attribute == "buffer"]
    expected = [
        (
            b.binding,
            f"device {'' if b.access == 'read_write' else 'const '}{_C_TYPES[b.element_type]}{'' if b.vector_width == 1 else b.vector_width}*",
        )
        for b in iface.buffers
    ]
    if iface.params is not None:
        expected.append((iface.params.binding, f"constant {iface.params.struct_name}&"))
    assert [(p.index, p.type) for p in buffers] == expected, f"{iface.name}: buffer parameters {buffers} != {expected}"
    unknown = [p.attribute for p in params if p.attribute != "buffer" and p.attribute not in BUILTIN_VALUES]
    assert not unknown, f"{iface.name}: unknown MSL attributes {unknown}"


def driver_source(program: MslProgram, msl_file: str) -> str:
    """The C++ that includes the MSL and calls each kernel as Metal would bind it."""
    sigs = signatures(program.source)
    lines = [
        f'#include "{msl_file}"',
        "// ---- generated driver (not MSL) ----",
        'extern "C" { struct rusty_ctx { unsigned lid[3], wid[3], nwg[3], gid[3]; unsigned simd_lane, simd_size; };',
        "typedef void (*rusty_thread_fn)(void* const*, const void*, const rusty_ctx*);",
        "int rusty_dispatch(rusty_thread_fn, void* const*, const void*, const unsigned*, const unsigned*, unsigned,",
        "                   const unsigned*, unsigned); }",
        "static metal::uint3 rusty_u3(const unsigned* v) { metal::uint3 r; r.x = v[0]; r.y = v[1]; r.z = v[2]; return r; }",
    ]
    for iface in program.kernels:
        params = sigs[iface.name]
        check_binding(iface, params)
        args = []
        for p in params:
            if p.attribute == "buffer" and p.index is not None and p.index < len(iface.buffers):
                buf = iface.buffers[p.index]
                elem = _C_TYPES[buf.element_type] + ("" if buf.vector_width == 1 else str(buf.vector_width))
                args.append(f"(device {elem}*)b[{p.index}]")
            elif p.attribute == "buffer":
                assert iface.params is not None
                args.append(f"*(constant {iface.params.struct_name}*)p")
            else:
                args.append(BUILTIN_VALUES[p.attribute])
        wx, wy, wz = iface.workgroup_size
        lines += [
            f"static void rusty_thread_{iface.name}(void* const* b, const void* p, const rusty_ctx* c) {{",
            f"  (void)b; (void)p; (void)c; {iface.name}({', '.join(args)});",
            "}",
            f'extern "C" int rusty_run_{iface.name}(void* const* b, const void* p, const unsigned* grid, const unsigned* groups, unsigned n) {{',
            f"  const unsigned block[3] = {{{wx}u, {wy}u, {wz}u}};",
            f"  return rusty_dispatch(rusty_thread_{iface.name}, b, p, grid, block, {SIMD_WIDTH}u, groups, n);",
            "}",
        ]
    return "\n".join(lines) + "\n"


def compile_kernels(source: str, out: Path, extra: str = "") -> subprocess.CompletedProcess[str]:
    """clang++ of an MSL source (+ ``extra`` C++ after it) against the stand-in, to an object file."""
    src = out.with_suffix(".metal")
    src.write_text(source)
    cpp = out.with_suffix(".cpp")
    cpp.write_text(f'#include "{src.name}"\n{extra}')
    return subprocess.run(
        [clang(), *KERNEL_FLAGS, "-I", str(STANDIN), "-x", "c++", "-c", str(cpp), "-o", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def metal_compile(source: str, workdir: Path) -> subprocess.CompletedProcess[str] | None:
    """Compile with Apple's Metal compiler where it exists (``xcrun metal``); None elsewhere."""
    if shutil.which("xcrun") is None:
        return None
    probe = subprocess.run(["xcrun", "--find", "metal"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return None
    src = workdir / "kernels.metal"
    src.write_text(source)
    return subprocess.run(
        ["xcrun", "metal", "-c", str(src), "-o", str(workdir / "kernels.air")], capture_output=True, text=True, check=False
    )


class MslLibrary:
    """One program's kernels, compiled and loaded."""

    def __init__(self, program: MslProgram, workdir: Path, runtime_obj: Path):
        self.program = program
        digest = hashlib.sha256(program.source.encode()).hexdigest()[:16]
        obj = workdir / f"k_{digest}.o"
        r = compile_kernels(program.source, obj, driver_source(program, obj.with_suffix(".metal").name).split("\n", 1)[1])
        if r.returncode != 0:
            raise AssertionError(f"clang++ rejected the MSL:\n{r.stderr[:4000]}")
        lib = workdir / f"k_{digest}.so"
        link = subprocess.run(
            [clang(), "-shared", "-pthread", str(obj), str(runtime_obj), "-o", str(lib)], capture_output=True, text=True, check=False
        )
        if link.returncode != 0:
            raise AssertionError(f"linking failed:\n{link.stderr[:4000]}")
        self.lib = ctypes.CDLL(str(lib))

    def run(
        self,
        name: str,
        grid: Sequence[int],
        buffers: Mapping[str, np.ndarray],
        params: Mapping[str, float | int | bool] | None = None,
        groups: Sequence[int] | None = None,
    ) -> None:
        """Run kernel ``name`` in place on ``buffers`` (by argument name; C-contiguous arrays of the element type)."""
        iface = next(k for k in self.program.kernels if k.name == name)
        arrays = []
        for b in iface.buffers:
            a = buffers[b.name]
            assert a.flags.c_contiguous and a.dtype == _NP_TYPES[b.element_type], f"{name}.{b.name}: {a.dtype}"
            arrays.append(a)
        ptrs = (ctypes.c_void_p * max(1, len(arrays)))(*[a.ctypes.data for a in arrays])
        packed = iface.params.pack(params or {}) if iface.params is not None else b"\0" * 16
        pbuf = ctypes.create_string_buffer(packed, len(packed))
        g = (ctypes.c_uint * 3)(*(list(grid) + [1, 1])[:3])
        ids = None if groups is None else (ctypes.c_uint * len(groups))(*groups)
        fn = getattr(self.lib, f"rusty_run_{name}")
        fn(ptrs, pbuf, g, ids, ctypes.c_uint(0 if groups is None else len(groups)))


class MslRunner:
    """Compiles each program once per session and runs single kernels with numpy inputs (``wgsl_harness.Runner``'s API)."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.runtime_obj = workdir / "msl_runtime.o"
        r = subprocess.run(
            [clang(), "-std=c++20", "-O1", "-fPIC", "-pthread", "-c", str(STANDIN / "msl_runtime.cpp"), "-o", str(self.runtime_obj)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if r.returncode != 0:
            raise AssertionError(f"msl_runtime.cpp does not compile:\n{r.stderr}")
        self._libs: dict[str, MslLibrary] = {}

    def library(self, program: MslProgram) -> MslLibrary:
        if program.source not in self._libs:
            self._libs[program.source] = MslLibrary(program, self.workdir, self.runtime_obj)
        return self._libs[program.source]

    def run(
        self,
        program: MslProgram | str,
        name: str,
        grid: Sequence[int],
        inputs: Mapping[str, np.ndarray],
        outputs: Mapping[str, tuple[Any, tuple[int, ...]]],
        params: Mapping[str, float | int | bool] | None = None,
    ) -> dict[str, np.ndarray]:
        """Run kernel ``name`` once; outputs are (dtype, shape) of zero-initialised buffers."""
        if isinstance(program, str):
            program = lit_program(program)
        buffers = {k: np.ascontiguousarray(v).copy() for k, v in inputs.items()}
        for k, (dtype, shape) in outputs.items():
            buffers[k] = np.zeros(shape, dtype)
        self.library(program).run(name, grid, buffers, params)
        return {k: buffers[k] for k in outputs}


@functools.cache
def lit_program(relpath: str) -> MslProgram:
    """The MSL program of one lit input file (relative to lit_tests/backends/wgsl)."""
    from wgsl_harness import parse

    return emit_program(parse((LIT_DIR / relpath).read_text()))
