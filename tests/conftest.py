"""Session fixtures shared by every test folder: the SmolLM2 oracle and the real SmolLM2 GGUF.

Both are required, not optional: a missing oracle or model is a failed test with a message
saying where it was looked for. The oracle is ``tests/data/oracle``, inside the repository, so that a
plain clone has everything the tests read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT / "tests" / "data"


def oracle_dir() -> Path:
    """Where the SmolLM2 reference outputs are: tests/data/oracle."""
    return DATA / "oracle"


def _require_file(path: Path) -> Path:
    if not path.is_file():
        pytest.fail(
            f"oracle file {path} is missing: the SmolLM2 reference outputs live in tests/data/oracle (restore them from git)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def oracle() -> dict[str, Any]:
    """smollm2_reference.json: per prompt, the ids, greedy continuation and top-two gaps."""
    return json.loads(_require_file(oracle_dir() / "smollm2_reference.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def oracle_logits() -> dict[str, np.ndarray]:
    """smollm2_first_logits.npz: the float32 logits of the first generated position, per prompt name."""
    with np.load(_require_file(oracle_dir() / "smollm2_first_logits.npz")) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from rusty_ir.errors import RustyError
    from rusty_ir.importers import default_model_path

    try:
        return default_model_path()
    except RustyError as err:
        pytest.fail(f"the SmolLM2 GGUF is required: {err}", pytrace=False)


@pytest.fixture(scope="session")
def smollm2(smollm2_path: Path) -> Any:
    from rusty_ir.importers import load_model

    return load_model(smollm2_path)


@pytest.fixture(scope="session")
def smollm2_hf_folder(smollm2: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SmolLM2 weights as a Hugging Face folder (float32 safetensors, q/k rows in HF order)."""
    from rusty_ir.importers.export import write_hf_folder

    return write_hf_folder(smollm2, tmp_path_factory.mktemp("smollm2_hf"), dtype="f32")


@pytest.fixture(scope="session")
def smollm2_api() -> Any:
    """``rusty_ir.load()``: the bundled SmolLM2 on the wgpu adapter, with the sampling entries (one per session:
    the API, server and chat tests share it, and with it the KV cache they reuse)."""
    import rusty_ir

    return rusty_ir.load(context_length=512)
