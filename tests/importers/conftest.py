"""Fixtures for the importer tests: tiny checkpoints and gguf's own reader of SmolLM2.

The oracle (``oracle``) and the real model (``smollm2_path``, ``smollm2``) are session
fixtures of tests/conftest.py; they fail, not skip, when missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def smollm2_reader(smollm2_path):
    """gguf's own reader of the same file, to cross-check ours (slow: ~2.5 s)."""
    from gguf import GGUFReader

    return GGUFReader(str(smollm2_path))


@pytest.fixture(scope="session")
def arch_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny Qwen3, Phi-3, Gemma 3 and Gemma 2 checkpoints of tiny_arch.py (test_architectures.py, test_gemma.py)."""
    from .tiny_arch import architecture_checkpoints

    return architecture_checkpoints(tmp_path_factory.mktemp("arch"), DATA)
