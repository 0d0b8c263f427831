"""The concrete schedule executor: one walk of a host function whose sizes are known (no step symbols), for the
programs that run a schedule once as it is: the fusion bench (``rusty_ir.bench_fusion``) and measured tuning
(``rusty_ir.tuning.DeviceRunner``). No xDSL.

``run_steps`` interprets ``let``, ``dim``, ``alloc``, ``weight``, ``launch``, ``if`` and ``return`` in order, with
every expression evaluated at once (``schedule.evaluate``); what a buffer is stays the caller's: a ``Host``
makes the allocs' and weights' values and takes each launch. An ``if`` runs one branch; ``return`` ends the walk.
Loops, calls and KV caches are the model runtime's (``expand.py`` expands those symbolically, in ``S`` and
``pos``, once for every step): here they are ``Host.unsupported``.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any, Protocol

from rusty_ir.backends.runtime.schedule import Alloc, Dim, If, Launch, Let, Return, Step, Weight, evaluate

ELEMENT_BYTES: Mapping[str, int] = {"f32": 4, "i32": 4, "f16": 2, "bf16": 2}
"""Bytes of one element of the schedule's plain element types (quantized ones are ``rusty_ir.weights`` schemes)."""


class Host(Protocol):
    """What ``run_steps`` asks of its caller; ``where`` names the step (``function.body[3] (launch)``)."""

    def alloc(self, step: Alloc, shape: tuple[int, ...], where: str) -> Any:
        """The value of an ``alloc`` of this (evaluated) shape."""
        ...

    def weight(self, step: Weight, where: str) -> Any:
        """The value of a ``weight`` step."""
        ...

    def launch(self, step: Launch, buffers: list[Any], grid: tuple[int, ...], scalars: list[Any], where: str) -> None:
        """One kernel launch: the values of its buffers, its evaluated grid and scalar arguments."""
        ...

    def unsupported(self, step: Step, where: str) -> None:
        """A step this walk does not run (``loop``, ``call``, ``cache``, ...): raise."""
        ...


def run_steps(steps: Sequence[Step], env: MutableMapping[str, Any], dims: MutableMapping[str, tuple[int, ...]], host: Host,
              where: str) -> bool:  # fmt: skip
    """Interpret ``steps`` in order; True once a ``return`` is reached (the caller stops there too).

    ``env`` maps names to values: the function's arguments (numbers, or the caller's buffer values) and each
    step's result; ``dims`` maps a buffer's name to its shape (``dim`` reads it; allocs and weights add theirs).
    """
    for i, step in enumerate(steps):
        here = f"{where}[{i}] ({step.OP})"
        if isinstance(step, Let):
            env[step.result] = evaluate(step.expr, env)
        elif isinstance(step, Dim):
            env[step.result] = dims[step.buffer][step.index]
        elif isinstance(step, Alloc):
            shape = tuple(int(evaluate(d, env)) for d in step.shape)
            dims[step.result] = shape
            env[step.result] = host.alloc(step, shape, here)
        elif isinstance(step, Weight):
            value = host.weight(step, here)
            dims[step.result] = tuple(step.shape)
            env[step.result] = value
        elif isinstance(step, Launch):
            scalars = [evaluate(s, env) for s in step.scalars]
            grid = tuple(int(evaluate(g, env)) for g in step.grid)
            host.launch(step, [env[b] for b in step.buffers], grid, scalars, here)
        elif isinstance(step, If):  # scf.if without results (a kernel version per step size): one branch
            taken = bool(evaluate(step.cond, env))
            if run_steps(step.then if taken else step.orelse, env, dims, host, f"{here}.{'then' if taken else 'else'}"):
                return True
        elif isinstance(step, Return):
            return True
        else:
            host.unsupported(step, here)
    return False
