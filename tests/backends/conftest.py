"""Fixtures for backend tests: one wgpu device (llvmpipe on CI) for the whole session."""

import pytest

from rusty_ir.backends.runtime import Device
from wgsl_harness import Runner  # tests/backends is on sys.path (rootdir-relative imports, no __init__.py)


@pytest.fixture(scope="session")
def device() -> Device:
    return Device()


@pytest.fixture(scope="session")
def runner(device: Device) -> Runner:
    return Runner(device)
