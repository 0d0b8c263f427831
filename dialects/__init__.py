"""The IR levels of rusty-ir, one folder per dialect, and their lazy registry.

``DIALECTS`` maps a dialect name to a factory that imports and returns it; the
tools register these with xDSL's ``Context`` so nothing loads until it is used.
Keep the registry alphabetical.
"""

from collections.abc import Callable

from xdsl.ir import Dialect


def _dispatch() -> Dialect:
    from rusty_ir.dialects.dispatch import Dispatch

    return Dispatch


def _linalg_ext() -> Dialect:
    from rusty_ir.dialects.linalg_ext import LinalgExt

    return LinalgExt


def _quant() -> Dialect:
    from rusty_ir.dialects.quant import Quant

    return Quant


def _rgpu() -> Dialect:
    from rusty_ir.dialects.gpu import RGpu

    return RGpu


def _tiled() -> Dialect:
    from rusty_ir.dialects.tiled import Tiled

    return Tiled


def _tfm() -> Dialect:
    from rusty_ir.dialects.transformer import Transformer

    return Transformer


DIALECTS: dict[str, Callable[[], Dialect]] = {
    "dispatch": _dispatch,
    "linalg_ext": _linalg_ext,
    "rgpu": _rgpu,
    "rquant": _quant,
    "tfm": _tfm,
    "tiled": _tiled,
}
