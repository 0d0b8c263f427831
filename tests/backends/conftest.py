"""Fixtures for backend tests: one wgpu device (llvmpipe on CI) and one MSL CPU runner for the whole session.

``runner`` runs kernels on wgpu; ``both_backends`` is parametrized over WGSL on wgpu and
MSL compiled by clang++ against the stand-in <metal_stdlib> and run on the CPU
(msl_harness.py): the execution tests of the lit kernels (test_wgsl_exec.py,
test_wgsl_kernels.py) take it as their ``runner``, so each runs on both backends.
"""

from pathlib import Path

import pytest

# tests/backends is on sys.path (rootdir-relative imports, no __init__.py)
from msl_harness import MslRunner
from wgsl_harness import Runner

from rusty_ir.backends.runtime import Device


@pytest.fixture(scope="session")
def device() -> Device:
    return Device()


@pytest.fixture(scope="session")
def msl_runner(tmp_path_factory: pytest.TempPathFactory) -> MslRunner:
    return MslRunner(Path(tmp_path_factory.mktemp("msl")))


@pytest.fixture(scope="session")
def wgsl_runner(device: Device) -> Runner:
    return Runner(device)


@pytest.fixture(scope="session")
def runner(wgsl_runner: Runner) -> Runner:
    return wgsl_runner


@pytest.fixture(scope="session", params=["wgsl", "msl"])
def both_backends(request: pytest.FixtureRequest) -> Runner | MslRunner:
    """A runner per backend, with the same ``run`` API: WGSL on the wgpu adapter, MSL on the CPU."""
    return request.getfixturevalue("msl_runner" if request.param == "msl" else "wgsl_runner")
