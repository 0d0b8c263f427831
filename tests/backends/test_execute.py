"""The schedule executor (backends/runtime/execute.py): one walk of host steps, concrete (the fusion bench and the
tuner) and symbolic (the model runtime's expansion, expand.py). No device."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rusty_ir.backends.runtime.execute import Buffer, ConcreteHost, Executor
from rusty_ir.backends.runtime.expand import expand
from rusty_ir.backends.runtime.schedule import Alloc, Function, Launch, Schedule, Weight
from rusty_ir.backends.schedule import build_schedule
from rusty_ir.errors import RustyError
from rusty_ir.ir import SourceMap, parse_module
from rusty_ir.registry import build_registry

LIT = Path(__file__).resolve().parents[2] / "lit_tests" / "backends" / "schedule"


class Recorder(ConcreteHost):
    """Buffers are names; launches are recorded as (kernel, buffers, grid, scalars)."""

    def __init__(self) -> None:
        self.launches: list[tuple[str, list[Any], tuple[Any, ...], list[Any]]] = []

    def alloc(self, step: Alloc, shape: tuple[int, ...], where: str) -> str:
        return f"slot{step.slot}{list(shape)}"

    def weight(self, step: Weight, layer: int | None, where: str) -> str:
        return step.name.replace("{}", str(layer))

    def launch(self, step: Launch, buffers: list[Any], grid: tuple[Any, ...], scalars: list[Any], where: str) -> None:
        self.launches.append((step.kernel, buffers, grid, scalars))


def functions(**bodies: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> dict[str, Function]:
    return {name: Function.from_dict(name, {"args": args, "body": body}, name) for name, (args, body) in bodies.items()}


def launch(kernel: str, buffers: list[str], grid: Any = 1, scalars: tuple[Any, ...] = ()) -> dict[str, Any]:
    return {"op": "launch", "kernel": kernel, "grid": [grid, 1, 1], "block": [1, 1, 1], "buffers": buffers, "scalars": list(scalars)}


X = {"name": "x", "kind": "buffer", "element_type": "f32", "shape": [None, 4]}
N = {"name": "n", "kind": "index"}

LAYER = ([{"name": "h", "kind": "buffer", "element_type": "f32", "shape": [None, 4]}, {"name": "l", "kind": "index"},
          {"name": "o", "kind": "buffer", "element_type": "f32", "shape": [None, 4]}],
         [{"op": "weight", "result": "w", "name": "blk.{}.w", "layer": "l", "scheme": "f32", "shape": [4]},
          {"op": "dim", "result": "rows", "buffer": "h", "index": 0},
          launch("layer", ["h", "w", "o"], "rows", ("l",)),
          {"op": "return", "values": []}])  # fmt: skip


def test_a_concrete_walk_runs_loops_calls_and_one_branch() -> None:
    fns = functions(layer=LAYER, main=([X, N], [
        {"op": "dim", "result": "rows", "buffer": "x", "index": 0},
        {"op": "alloc", "result": "spare", "slot": 0, "element_type": "f32", "shape": ["rows", 4]},
        {"op": "loop", "iv": "l", "lower": 0, "upper": 2, "step": 1, "iter_args": [["in", "x"], ["out", "spare"]],
         "body": [{"op": "call", "callee": "layer", "args": ["in", "l", "out"], "results": []}],
         "yield": ["out", "in"], "results": ["last", "other"]},
        {"op": "if", "cond": ["le", "n", 1], "then": [{"op": "return", "values": ["last"]}], "else": []},
        launch("tail", ["last"], ["ceildiv", "rows", 2], (["mul", "n", 3],)),
        {"op": "return", "values": ["last", "n"]},
    ]))  # fmt: skip
    host = Recorder()
    result = Executor(host, fns).call(fns["main"], [Buffer("x", (5, 4)), 7], "main")
    assert host.launches == [
        ("layer", ["x", "blk.0.w", "slot0[5, 4]"], (5, 1, 1), [0]),
        ("layer", ["slot0[5, 4]", "blk.1.w", "x"], (5, 1, 1), [1]),  # the loop swapped the buffers
        ("tail", ["x"], (3, 1, 1), [21]),
    ]
    assert result == [Buffer("x", (5, 4)), 7]
    host = Recorder()
    assert Executor(host, fns).call(fns["main"], [Buffer("x", (5, 4)), 1], "main") == [Buffer("x", (5, 4))]  # returned in the if
    assert [k for k, *_ in host.launches] == ["layer", "layer"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([launch("k", ["nowhere"])], r"main.body\[0\] \(launch\): unknown value 'nowhere'"),
        ([{"op": "let", "result": "y", "expr": ["add", "x", 1]}], r"'x' is a buffer where a number is expected"),
        ([{"op": "dim", "result": "d", "buffer": "n", "index": 0}], r"'n' is not a buffer"),
        ([{"op": "dim", "result": "d", "buffer": "x", "index": 2}], r"dimension 2 of a rank-2 buffer"),
        ([{"op": "let", "result": "y", "expr": ["div", "n", 0]}], r"main.body\[0\] \(let\): division by zero"),
        ([{"op": "call", "callee": "main", "args": ["x", "n"], "results": []}], r"calls nest deeper than 32"),
        ([{"op": "call", "callee": "main", "args": ["n", "n"], "results": []}], r"argument 'x' of 'main' must be a buffer"),
        ([{"op": "loop", "iv": "i", "lower": 0, "upper": 1, "step": 1, "iter_args": [], "body": [{"op": "return", "values": []}],
           "yield": [], "results": []}], r"main.body\[0\] \(loop\): return inside a loop"),
        ([{"op": "cache", "result": "k", "cache": "kv", "part": "k", "layer": 0}],
         r"main.body\[0\] \(cache\): a 'cache' step; this runner takes functions without KV caches"),
    ],
)  # fmt: skip
def test_concrete_walk_errors_say_where(body: list[dict[str, Any]], message: str) -> None:
    fns = functions(main=([X, N], body))
    with pytest.raises(RustyError, match=message):
        Executor(Recorder(), fns).call(fns["main"], [Buffer("x", (5, 4)), 7], "main")


@pytest.fixture(scope="module")
def tiny() -> Schedule:
    return build_schedule(parse_module(build_registry().context(), SourceMap("tiny", (LIT / "tiny-model.mlir").read_text())))


def test_expansion_is_a_symbolic_walk(tiny: Schedule) -> None:
    """The same executor, symbolically: prefill's launches are expressions of S and pos, the layer loop unrolled."""
    x = expand(tiny, 16, "prefill")
    mix = [launch for launch in x.launches if launch.kernel == "mix"]
    assert [launch.scalars for launch in mix] == [("S", "pos", 0), ("S", "pos", 1)]
    assert [b.key for b in mix[1].buffers][3] == ("weight", "blk.1.w")
    assert mix[0].where.startswith("prefill: layer.body[")
    assert x.weight_layers == {"blk.0.w": ("blk.{}.w", 0), "blk.1.w": ("blk.{}.w", 1)}
    assert all(guard == 1 for *_, guard in x.allocs)
