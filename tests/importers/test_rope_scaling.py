"""RoPE scaling (llama3, linear, yarn), Llama 3.2's tied embeddings, Mistral's sliding window and the architectures
that are not supported yet (issue 13).

The scaled checkpoints (tests/importers/tiny_rope.py) run on the reference backend against transformers'
outputs in tests/data/hf_rope_scaling.json (scripts/make_rope_scaling_references.py); the llama3 GGUF also
runs once on wgpu (yarn reaches the kernels as the same divisors and a float attribute, the attention scale).
Unsupported scalings and architectures are one clear error naming what the file says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import oracle_checks
import pytest

from rusty_ir.errors import RustyError
from rusty_ir.importers import load_model
from rusty_ir.importers.export import write_hf_folder
from rusty_ir.importers.rope import default_inv_freq, llama3_factors
from rusty_ir.importers.to_ir import build_module
from rusty_ir.tools import rusty

from .tiny import edit_config, load_error, random_weights, tiny_config, write_tiny_gguf
from .tiny_rope import LLAMA3, PROMPT_IDS, YARN, hf_llama3_inv_freq, rope_scaling_checkpoints

DATA = Path(__file__).resolve().parents[1] / "data"
NEAR_TIE = 1e-3


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return rope_scaling_checkpoints(tmp_path_factory.mktemp("rope"))


@pytest.fixture(scope="module")
def reference() -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return oracle_checks.hf_reference("hf_rope_scaling")


@pytest.mark.parametrize(
    ("theta", "dim", "factor", "low", "high", "original"),
    [(500000.0, 128, 8.0, 1.0, 4.0, 8192), (500000.0, 64, 32.0, 1.0, 4.0, 8192), (10000.0, 16, 8.0, 1.0, 4.0, 64)],
    ids=["llama3.1-8b", "llama3.2-1b", "tiny"],
)
def test_llama3_factors_follow_hugging_face(theta, dim, factor, low, high, original) -> None:
    """Our per-pair divisors give Hugging Face's llama3 frequencies (its formula, written in numpy in tiny_rope.py)."""
    ours = default_inv_freq(theta, dim) / llama3_factors(default_inv_freq(theta, dim), factor, low, high, original)
    want = hf_llama3_inv_freq(theta, dim, factor, low, high, original)
    np.testing.assert_allclose(ours, want, rtol=2e-7)
    assert {1.0, factor} <= set(np.round(default_inv_freq(theta, dim) / want, 5)) or dim == 16


def test_tiny_factors_are_transformers(reference) -> None:
    report, _ = reference
    inv = default_inv_freq(10000.0, 16)
    p = LLAMA3
    ours = inv / llama3_factors(inv, p["factor"], p["low_freq_factor"], p["high_freq_factor"], p["original_max_position_embeddings"])
    np.testing.assert_allclose(ours, report["scalings"]["llama3"]["inv_freq"], rtol=2e-7)
    np.testing.assert_allclose(inv / 4.0, report["scalings"]["linear"]["inv_freq"], rtol=2e-7)
    kept, divided = ours[0] / inv[0], ours[-1] / inv[-1]  # the tiny head has all three regimes
    assert kept == 1.0 and divided == pytest.approx(1 / 8) and any(1 / 8 < r < 1 for r in ours / inv)


@pytest.mark.parametrize("name", ["llama3_folder", "llama3_gguf", "linear_folder", "linear_gguf", "yarn_folder", "yarn_gguf"])
def test_scaled_rope_matches_transformers(checkpoints, reference, name: str) -> None:
    """First-step logits within 1e-3 and the greedy ids of transformers, from a Hugging Face folder and a GGUF;
    the models have tied embeddings, no output tensor in either file (Llama 3.2's; the yarn one is a Qwen2.5)."""
    report, logits = reference
    scaling = name.split("_")[0]
    model = load_model(checkpoints[name])
    assert model.config.tied_embeddings and "output.weight" not in model.weights
    assert model.weights["rope_freqs.weight"].shape == (8,)
    oracle_checks.check_reference_backend(model, PROMPT_IDS, report["steps"], report["scalings"][scaling], logits[scaling], name, NEAR_TIE)


def test_scaled_rope_on_wgpu(checkpoints, reference) -> None:
    """The llama3 GGUF compiled for wgpu (llvmpipe in CI): the factors are read by the fused RoPE epilogue."""
    report, logits = reference
    oracle_checks.check_wgpu_backend(
        checkpoints["llama3_gguf"], PROMPT_IDS, report["steps"], report["scalings"]["llama3"], logits["llama3"], "wgpu llama3"
    )


def test_yarn_is_transformers(checkpoints, reference) -> None:
    """YaRN's divisors and attention factor as transformers computes them (``_compute_yarn_parameters``), from the
    folder and the GGUF; the tiny head has pairs kept, ramped and divided; the attention scale takes the factor's
    square; the context reaches factor x the original (as vLLM reads a yarn config)."""
    report, _ = reference
    want = report["scalings"]["yarn"]
    for name in ("yarn_folder", "yarn_gguf"):
        cfg = load_model(checkpoints[name]).config
        ff = load_model(checkpoints[name]).weights["rope_freqs.weight"].to_numpy()
        np.testing.assert_allclose(default_inv_freq(10000.0, 16) / ff, want["inv_freq"], rtol=1e-6)
        assert cfg.rope_attention_factor == pytest.approx(want["attention_scaling"], rel=1e-7) and want["attention_scaling"] > 1.1
        assert cfg.attention_scale == pytest.approx(16**-0.5 * want["attention_scaling"] ** 2, rel=1e-7)
        assert cfg.context_length == YARN["factor"] * YARN["original_max_position_embeddings"]
    assert list(np.round(ff, 3)[[0, 2, 3, 5, 6, 7]]) == [1.0, 1.0, 1.231, 2.286, 4.0, 4.0]


def test_yarn_folder_round_trip(checkpoints, tmp_path: Path) -> None:
    """A yarn model written as a folder keeps its scaling: the divisors and the attention factor come back."""
    model = load_model(checkpoints["yarn_gguf"])
    again = load_model(write_hf_folder(model, tmp_path / "again", dtype="f32"))
    hf = json.loads((tmp_path / "again" / "config.json").read_text())["rope_scaling"]
    assert (
        hf["rope_type"] == "yarn"
        and hf["original_max_position_embeddings"] == 4096
        and hf["attention_factor"] == model.config.rope_attention_factor
    )
    np.testing.assert_array_equal(again.weights["rope_freqs.weight"].to_numpy(), model.weights["rope_freqs.weight"].to_numpy())
    assert again.config.attention_scale == model.config.attention_scale


def test_rope_op_prints_and_parses_its_factors(checkpoints) -> None:
    from xdsl.context import Context
    from xdsl.dialects.arith import Arith
    from xdsl.dialects.builtin import Builtin
    from xdsl.dialects.func import Func
    from xdsl.dialects.scf import Scf
    from xdsl.dialects.tensor import Tensor
    from xdsl.parser import Parser

    from rusty_ir.dialects.quant import Quant
    from rusty_ir.dialects.transformer import Transformer

    model = load_model(checkpoints["llama3_folder"])
    module = build_module(model.config, model.weights)
    text = str(module)
    assert " factors %" in text and "tensor<8xf32>" in text and '"rope_freqs.weight"' in text
    ctx = Context()
    for dialect in (Builtin, Func, Arith, Scf, Tensor, Quant, Transformer):
        ctx.load_dialect(dialect)
    reparsed = Parser(ctx, text).parse_module()
    reparsed.verify()
    assert reparsed.is_structurally_equivalent(module)


def test_unscaled_models_have_no_factors() -> None:
    cfg = tiny_config("llama")
    text = str(build_module(cfg, _store(cfg)))
    assert "factors" not in text and "rope_freqs" not in text


def _store(cfg):
    from rusty_ir.weights import SCHEMES, TensorView, WeightStore, quantize

    return WeightStore(
        {n: TensorView(n, w.shape, SCHEMES["f32"], quantize(w, SCHEMES["f32"]).reshape(-1)) for n, w in random_weights(cfg).items()}
    )


# --- what is refused, and how --------------------------------------------------------------------------


def _folder(tmp_path: Path, **config: Any) -> Path:
    cfg = tiny_config("llama", tied_embeddings=True)
    src = write_tiny_gguf(tmp_path / "src.gguf", cfg, random_weights(cfg), types={n: "f32" for n in random_weights(cfg)})
    folder = write_hf_folder(load_model(src), tmp_path / "hf", dtype="f32")
    return edit_config(folder, **config)


@pytest.mark.parametrize(
    ("scaling", "message"),
    [
        ({"rope_type": "yarn", "original_max_position_embeddings": 32768}, "rope_scaling is missing 'factor'"),
        ({"rope_type": "yarn", "factor": 4.0, "truncate": "yes"}, "rope_scaling.truncate = 'yes': must be true or false"),
        ({"type": "dynamic", "factor": 2.0}, "rope_scaling.rope_type 'dynamic' is not supported yet (dynamic NTK"),
        ({"rope_type": "longrope", "short_factor": [1.0], "long_factor": [2.0]}, "'longrope' is not supported yet"),
        ({"rope_type": "ntk-by-parts"}, "rope_scaling.rope_type 'ntk-by-parts' is not supported yet; supported: default, linear, llama3, yarn"),
        ({"rope_type": "llama3", "factor": 8.0}, "rope_scaling is missing 'low_freq_factor'"),
        ({"rope_type": "linear", "factor": -2}, "rope_scaling.factor = -2: must be a finite number above 0"),
        ({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 1.0, "original_max_position_embeddings": 64},
         "high_freq_factor = 1 must be above low_freq_factor = 4"),
    ],
)  # fmt: skip
def test_hf_scalings_that_are_refused(tmp_path: Path, scaling: dict, message: str) -> None:
    msg = load_error(_folder(tmp_path, rope_scaling=scaling))
    assert "config.json" in msg and message in msg, msg
    if "supported yet" in msg:
        assert "supported: default, linear, llama3, yarn" in msg


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"qwen2.rope.scaling.type": ("string", "dynamic")}, "qwen2.rope.scaling.type 'dynamic' is not supported yet (dynamic NTK"),
        ({"qwen2.rope.scaling.type": ("string", "yarn"), "qwen2.rope.scaling.factor": ("float32", 4.0),
          "qwen2.rope.scaling.yarn_ext_factor": ("float32", 0.5)}, "qwen2.rope.scaling.yarn_ext_factor = 0.5: only 1"),
        ({"qwen2.rope.scaling.type": ("string", "yarn"), "qwen2.rope.scaling.factor": ("float32", 4.0),
          "qwen2.rope.scaling.yarn_log_multiplier": ("float32", 0.1)}, "DeepSeek's yarn attention scaling is not supported yet"),
        ({"qwen2.rope.scaling.type": ("string", "yarn")}, "qwen2.rope.scaling is missing 'factor'"),
    ],
)  # fmt: skip
def test_gguf_scalings_that_are_refused(tmp_path: Path, keys: dict, message: str) -> None:
    cfg = tiny_config("qwen2")
    msg = load_error(write_tiny_gguf(tmp_path / "scaled.gguf", cfg, random_weights(cfg), extra_kv=keys))
    assert "scaled.gguf: " in msg and message in msg, msg
    if "supported yet (" in msg:
        assert "supported: none, linear, yarn, and per-frequency factors in rope_freqs.weight" in msg


def test_gguf_factors_of_the_wrong_shape(tmp_path: Path) -> None:
    cfg = tiny_config("llama")
    path = write_tiny_gguf(
        tmp_path / "ff.gguf", cfg, random_weights(cfg), extra_tensors={"rope_freqs.weight": (np.ones(5, np.float32), None)}
    )
    assert "tensor 'rope_freqs.weight' has shape [5], but a rotation of 16 dimensions needs one factor per pair: [8]" in load_error(path)


def test_gguf_factors_cannot_become_a_folder(checkpoints, tmp_path: Path) -> None:
    """config.json names llama3's parameters, not factors: exporting them would change the model, so it is refused."""
    with pytest.raises(RustyError, match="rope_freqs.weight; a Hugging Face config.json cannot hold them"):
        write_hf_folder(load_model(checkpoints["llama3_gguf"]), tmp_path / "out")
    again = write_hf_folder(load_model(checkpoints["llama3_folder"]), tmp_path / "again", dtype="f32")
    assert json.loads((again / "config.json").read_text())["rope_scaling"] == {k: v for k, v in LLAMA3.items()}


def test_a_config_with_scaling_but_no_factors_is_refused() -> None:
    cfg = tiny_config("llama", rope_scaling=(("factor", 2.0), ("rope_type", "linear")))
    with pytest.raises(RustyError, match="has no 'rope_freqs.weight' in the weights"):
        build_module(cfg, _store(cfg))


def test_mistral_sliding_window(tmp_path: Path) -> None:
    """Mistral 7B v0.1's window (4096 of 32768 positions here scaled down): the context stays the model's, every
    layer attends over the window (tests/importers/test_windows.py checks the numbers against transformers)."""
    folder = _folder(tmp_path, model_type="mistral", sliding_window=64, max_position_embeddings=256)
    cfg = load_model(folder).config
    assert cfg.context_length == 256 and cfg.sliding_window == 64 and [cfg.layer_window(i) for i in range(2)] == [64, 64]
    for window in (None, 256, 1000):  # null (v0.2+) or a window the context never passes: full attention
        cfg = load_model(_folder(tmp_path, model_type="mistral", sliding_window=window, max_position_embeddings=256)).config
        assert cfg.context_length == 256 and cfg.sliding_window is None
    # Qwen2's window applies only with use_sliding_window, from max_window_layers on (transformers' Qwen2Config)
    assert tiny_config("qwen2").sliding_window is None
    from rusty_ir.importers.safetensors import _config_from_hf

    base = json.loads((folder / "config.json").read_text(encoding="utf-8")) | {
        "model_type": "qwen2",
        "use_sliding_window": True,
        "sliding_window": 64,
    }
    qwen = _config_from_hf(base | {"max_window_layers": 1}, folder / "config.json", folder)[0]
    assert qwen.sliding_window == 64 and [qwen.layer_window(i) for i in range(2)] == [None, 64]
    assert _config_from_hf(base, folder / "config.json", folder)[0].sliding_window is None  # max_window_layers 28: none slides


def test_run_beyond_the_window(tmp_path: Path) -> None:
    folder = _folder(tmp_path, model_type="mistral", sliding_window=4, max_position_embeddings=256)
    assert rusty.main(["run", str(folder), "-q", "--backend", "reference", "--context-length", "128", "--prompt", "hi there",
                       "--max-tokens", "6"]) == 0  # fmt: skip


def test_run_with_dynamic_scaling_is_one_line(tmp_path: Path, capsys) -> None:
    folder = _folder(tmp_path, rope_scaling={"rope_type": "dynamic", "factor": 4.0})
    assert rusty.main(["run", str(folder), "-q", "--backend", "reference", "--prompt", "hi"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "rusty: error: " in err, err
    assert "'dynamic' is not supported yet" in err


@pytest.mark.parametrize(
    ("model_type", "what"),
    [
        ("gemma3", "this is a multimodal Gemma 3 folder"),
        ("gemma", "Gemma (1) scales the embeddings"),
    ],
)
def test_architectures_not_supported_yet(tmp_path: Path, model_type: str, what: str) -> None:
    msg = load_error(_folder(tmp_path, model_type=model_type))
    assert f"architecture '{model_type}' (model_type) is not supported yet: " in msg and "Supported: llama" in msg, msg
    assert what in msg, msg
    if model_type == "gemma3":  # a GGUF's gemma3 is the text model, which runs (test_gemma.py)
        return
    gguf_path = tmp_path / f"{model_type}.gguf"
    w = gguf.GGUFWriter(str(gguf_path), model_type)
    w.add_uint32(f"{model_type}.block_count", 1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    msg = load_error(gguf_path)
    assert f"architecture '{model_type}' (key general.architecture) is not supported yet" in msg, msg


def test_unknown_architecture_is_still_unknown(tmp_path: Path) -> None:
    msg = load_error(_folder(tmp_path, model_type="mamba"))
    assert "unknown architecture 'mamba' (model_type; supported: llama" in msg, msg
