"""The schedule format (backends/runtime/schedule.py) and its emitter (backends/schedule)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rusty_ir.backends.runtime.schedule import (
    SCHEDULE_VERSION,
    Alloc,
    Launch,
    Loop,
    Schedule,
    check_expr,
    evaluate,
)
from rusty_ir.backends.schedule import build_schedule, emit_schedule
from rusty_ir.errors import RustyError
from rusty_ir.ir import SourceMap, parse_module
from rusty_ir.registry import build_registry

LIT = Path(__file__).resolve().parents[2] / "lit_tests" / "backends" / "schedule"


def parse(text: str, name: str = "<test>"):
    return parse_module(build_registry().context(), SourceMap(name, text))


@pytest.fixture(scope="module")
def tiny() -> Schedule:
    return build_schedule(parse((LIT / "tiny-model.mlir").read_text()))


def test_json_round_trip_is_exact_and_deterministic(tiny: Schedule):
    text = tiny.to_json()
    again = Schedule.from_json(text)
    assert again == tiny
    assert again.to_json() == text
    assert emit_schedule(parse((LIT / "tiny-model.mlir").read_text())) == text
    assert json.loads(text)["version"] == SCHEDULE_VERSION


def test_structure_of_the_tiny_model(tiny: Schedule):
    assert tiny.entries == ("prefill", "decode")
    assert list(tiny.functions) == ["layer", "prefill", "decode"]
    assert [s.slot for s in tiny.slots] == [0, 1, 2, 3]
    assert {w.name: w.layered for w in tiny.weights} == {"blk.{}.w": True, "output.weight": False, "token_embd.weight": False}
    layer = tiny.functions["layer"].body
    mix = next(s for s in layer if isinstance(s, Launch) and s.kernel == "mix")
    assert mix.buffers == ("h", "kc", "vc", "w", "t") and mix.scalars == ("S", "pos", "l")
    assert tiny.kernels["mix"].params is not None and len(tiny.kernels["mix"].params.fields) == 3
    loop = next(s for s in tiny.functions["prefill"].body if isinstance(s, Loop))
    assert loop.iter_args == (("in", "h0"), ("o", "spare")) and loop.yields == ("o", "in")
    alloc = next(s for s in tiny.functions["prefill"].body if isinstance(s, Alloc))
    assert alloc.shape == ("S", 8)


def test_expressions():
    env = {"S": 5, "pos": 7}
    assert evaluate(["ceildiv", ["mul", "S", 8], 64], env) == 1
    assert evaluate(["add", ["rem", "pos", 4], ["div", "pos", 4]], env) == 4
    assert evaluate(["min", ["sub", "pos", "S"], ["max", 1, 0]], env) == 1
    assert evaluate(3, env) == 3
    assert evaluate(["le", "S", 5], env) == 1 and evaluate(["le", "pos", "S"], env) == 0
    for bad in (["pow", 1, 2], ["add", 1], True, None, {"add": 1}, ["add", 1, [1]]):
        with pytest.raises(RustyError, match="expected"):
            check_expr(bad, "here")


def test_plan_table_knows_what_depends_on_the_position():
    """A plan's interned expressions (``plan._Table``): the values computed from ``pos`` (index 1), which decide
    whether a step's grids move with the position (``_Plan.position_free``)."""
    from rusty_ir.backends.runtime.plan import _Table

    table = _Table()
    rows_of = ("mul", "S", 8)
    partitions_of = ("min", ("ceildiv", ("add", "pos", "S"), 32), 32)
    rows, partitions, both = (table.intern(e) for e in (rows_of, partitions_of, ("add", rows_of, partitions_of)))
    depends = table.depending_on(1)
    assert 1 in depends and partitions in depends and both in depends
    assert rows not in depends and 0 not in depends


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("functions"), "schedule has no 'functions'"),
        (lambda d: d.update(version="1"), r"schedule.version has the wrong type"),
        (lambda d: d.update(entries=["prefill", "nope"]), "entry 'nope' is not one of its functions"),
        (lambda d: d["kernels"]["mix"].pop("buffers"), "kernels.mix is not a kernel interface"),
        (lambda d: d["functions"]["layer"]["body"][0].update(op="jump"), r"functions.layer.body\[0\] \(jump\): unknown step op 'jump'"),
        (lambda d: d["functions"]["layer"]["body"][7].update(grid=[1, 1]), r"body\[7\] \(launch\).grid must have 3 entries"),
        (lambda d: d["functions"]["prefill"]["body"][7]["iter_args"].append("x"), r"iter_args\[2\] must be \[name, initial value\]"),
        (lambda d: d["functions"]["prefill"]["body"][4].update(slot=True), r"body\[4\] \(alloc\).slot has the wrong type"),
        (lambda d: d["functions"]["layer"].update(args=[{"name": "x"}]), r"functions.layer.args\[0\] has no 'kind'"),
    ],
)
def test_malformed_schedules_are_clear_errors(tiny: Schedule, mutate, message):
    data = json.loads(tiny.to_json())
    mutate(data)
    with pytest.raises(RustyError, match=message):
        Schedule.from_dict(data)


def test_not_json_and_not_a_schedule():
    with pytest.raises(RustyError, match="invalid JSON at line 1 column 2"):
        Schedule.from_json("{]")
    with pytest.raises(RustyError, match="schedule must be an object"):
        Schedule.from_json("[1, 2]")


HOST = """
module attributes {{gpu.container_module}} {{
  func.func @prefill(%tokens: memref<?xi32>, %pos: index, %out: memref<1xi32>) {{
    %c0 = arith.constant 0 : index
    {body}
    return
  }}
}}
"""


@pytest.mark.parametrize(
    ("body", "message", "op_name"),
    [
        ("%x = arith.addf %f, %f : f32", "cannot translate this op in a host function", "arith.addf"),
        ("%h = memref.alloc() : memref<8xf32>", "no rusty.slot attribute", "memref.alloc"),
        ("%h = memref.alloc() {rusty.slot = 0 : i64} : memref<8xf64>", "no buffers of element type f64", "memref.alloc"),
        ("%S = memref.dim %tokens, %pos : memref<?xi32>", "memref.dim needs a constant index", "memref.dim"),
        ("%b = arith.cmpi ult, %pos, %c0 : index", "cannot translate this op in a host function", "arith.cmpi"),
        (
            "%t = arith.constant true\n    %r = scf.if %t -> (index) {\n scf.yield %c0 : index\n } else {\n scf.yield %c0 : index\n }",
            "scf.if with results is not supported",
            "scf.if",
        ),
    ],
)
def test_emitter_errors_name_the_op(body: str, message: str, op_name: str):
    if "%f" in body:
        body = "%f = arith.constant 1.0 : f32\n    " + body
    module = parse(HOST.format(body=body))
    with pytest.raises(RustyError, match=message) as info:
        build_schedule(module)
    assert info.value.op is not None and info.value.op.name == op_name
    assert "func.func @prefill" in str(info.value)


def test_launch_of_an_unknown_kernel_is_located():
    text = (LIT / "tiny-model.mlir").read_text().replace("@kernels::@mix", "@kernels::@nope")
    with pytest.raises(RustyError, match="kernel @nope is not a gpu.func kernel of this module") as info:
        build_schedule(parse(text))
    assert info.value.op.name == "gpu.launch_func"


def test_runtime_modules_do_not_import_xdsl():
    code = (
        "import sys\n"
        "import rusty_ir.backends.runtime.schedule, rusty_ir.backends.runtime.model\n"
        "assert not [m for m in sys.modules if m.startswith('xdsl')], 'xdsl imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_host_if_becomes_an_if_step_and_round_trips():
    """``scf.if`` on ``arith.cmpi ule`` is an ``if`` step whose condition is an ``le`` expression."""
    module = parse(
        HOST.format(
            body="""%S = memref.dim %tokens, %c0 : memref<?xi32>
    %c1 = arith.constant 1 : index
    %one = arith.cmpi ule, %S, %c1 : index
    scf.if %one {
      %a = memref.alloc() {rusty.slot = 0 : i64} : memref<8xf32>
    } else {
      %b = memref.alloc() {rusty.slot = 1 : i64} : memref<16xf32>
    }"""
        )
    )
    schedule = build_schedule(module)
    body = schedule.to_dict()["functions"]["prefill"]["body"]
    let, step = body[1], body[2]
    assert let == {"op": "let", "result": let["result"], "expr": ["le", body[0]["result"], 1]}
    assert step["op"] == "if" and step["cond"] == let["result"]
    assert [s["slot"] for s in step["then"]] == [0] and [s["slot"] for s in step["else"]] == [1]
    assert Schedule.from_json(schedule.to_json()).to_json() == schedule.to_json()
    bad = json.loads(schedule.to_json())
    bad["functions"]["prefill"]["body"][2]["then"] = {"op": "alloc"}
    with pytest.raises(RustyError, match=r"body\[2\] \(if\).then has the wrong type"):
        Schedule.from_dict(bad)
