"""Fixtures for backend tests: one wgpu device (llvmpipe on CI) and one MSL CPU runner for the whole session.

``runner`` is parametrized over both backends, so every execution test of a lit
kernel runs as WGSL on wgpu and as MSL compiled by clang++ against the stand-in
<metal_stdlib> and run on the CPU (msl_harness.py).
"""

from pathlib import Path

import pytest

from msl_harness import MslRunner
from rusty_ir.backends.runtime import Device
from wgsl_harness import Runner  # tests/backends is on sys.path (rootdir-relative imports, no __init__.py)


@pytest.fixture(scope="session")
def device() -> Device:
    return Device()


@pytest.fixture(scope="session")
def msl_runner(tmp_path_factory: pytest.TempPathFactory) -> MslRunner:
    return MslRunner(Path(tmp_path_factory.mktemp("msl")))


@pytest.fixture(scope="session", params=["wgsl", "msl"])
def runner(request: pytest.FixtureRequest) -> Runner | MslRunner:
    if request.param == "msl":
        return request.getfixturevalue("msl_runner")
    return Runner(request.getfixturevalue("device"))
