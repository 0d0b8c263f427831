"""Fixtures for the importer tests: the real SmolLM2 GGUF, the oracle, tiny checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rusty_ir.errors import RustyError

ORACLE = Path(__file__).resolve().parents[2].parent / "shared" / "oracle" / "smollm2_reference.json"
DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def oracle() -> dict:
    if not ORACLE.is_file():
        pytest.skip(f"oracle file {ORACLE} not present")
    return json.loads(ORACLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from rusty_ir.importers import default_model_path

    try:
        return default_model_path()
    except RustyError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def smollm2(smollm2_path):
    from rusty_ir.importers import load_model

    return load_model(smollm2_path)


@pytest.fixture(scope="session")
def smollm2_reader(smollm2_path):
    """gguf's own reader of the same file, to cross-check ours (slow: ~2.5 s)."""
    from gguf import GGUFReader

    return GGUFReader(str(smollm2_path))
