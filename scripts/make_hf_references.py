"""Make tests/data/hf_reference.json (+ _logits.npz): Hugging Face transformers on tiny random checkpoints.

Not run in CI. Needs torch and transformers, installed by hand only (never a project
dependency): ``pip install torch==2.13.0 transformers``. Made with torch 2.13.0 (CPU) and
transformers 5.24.0.

The checkpoints are built by ``tests/importers/tiny.py: hf_reference_checkpoints`` (seeded,
so the test rebuilds the same bytes): a qwen2 GGUF with q/k/v biases, a llama GGUF with a
SentencePiece vocabulary (q/k rows in llama.cpp's interleaved order), and a Hugging Face
folder stored in BF16. For each, transformers runs in float32:

- the GGUF ones as a model built from a config and a state dict: every tensor decoded from
  the GGUF bytes to float32 (what transformers' own GGUF loader does), q/k rows of a
  ``llama`` GGUF permuted back to Hugging Face's order;
- the folder with ``AutoModelForCausalLM.from_pretrained`` (its real safetensors loader,
  BF16 upcast to float32).

Recorded per checkpoint: the prompt ids (from Hugging Face's tokenizer where it can read the
checkpoint, with a note where not), ``HF_REFERENCE_STEPS`` greedy ids from a KV-cached loop
(EOS is not a stop condition), the top-two gap of each step, and the full logits of the
first generated position (in the npz).

    python scripts/make_hf_references.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(ROOT / "tests"))

from importers.tiny import HF_REFERENCE_PROMPT, HF_REFERENCE_STEPS, hf_reference_checkpoints  # noqa: E402 - after the sys.path setup above

from rusty_ir.importers import load_model  # noqa: E402 - after the sys.path setup above
from rusty_ir.importers.export import hf_config_dict  # noqa: E402 - after the sys.path setup above
from rusty_ir.importers.safetensors import gguf_to_hf_name  # noqa: E402 - after the sys.path setup above


def llama_cpp_unpermute(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp convert_hf_to_gguf.py's ``permute``.

    ``permute`` maps HF rows to GGUF rows by ``reshape(n_heads, 2, d/2).swapaxes(1, 2)``;
    its inverse reads the GGUF rows as ``(n_heads, d/2, 2)`` and swaps back. Written here
    independently of rusty_ir.importers.export, so the references don't share its code."""
    return w.reshape(n_heads, -1, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_from_gguf(path: Path) -> Any:
    """A transformers model built from a config and a state dict decoded from the GGUF."""
    m = load_model(path)
    cfg = m.config
    config_cls = transformers.Qwen2Config if cfg.arch == "qwen2" else transformers.LlamaConfig
    hf_cfg = config_cls(**{k: v for k, v in hf_config_dict(cfg).items() if k not in ("architectures", "model_type")})
    hf_cfg._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(hf_cfg, dtype=torch.float32)
    state: dict[str, torch.Tensor] = {}
    for name, view in m.weights.items():
        w = view.to_numpy()
        if cfg.rope_style == "interleaved":
            if ".attn_q." in name:
                w = llama_cpp_unpermute(w, cfg.n_heads)
            elif ".attn_k." in name:
                w = llama_cpp_unpermute(w, cfg.n_kv_heads)
        state[gguf_to_hf_name(name)] = torch.from_numpy(np.ascontiguousarray(w))
    missing, unexpected = model.load_state_dict(state, strict=False)
    allowed_missing = {"lm_head.weight"} if cfg.tied_embeddings else set()
    assert set(missing) <= allowed_missing and not unexpected, (missing, unexpected)
    if cfg.tied_embeddings:
        model.tie_weights()
        assert torch.equal(model.lm_head.weight, model.model.embed_tokens.weight)
    return model.eval()


def hf_tokenizer_ids(path: Path, text: str) -> tuple[list[int] | None, str]:
    try:
        if path.is_dir():
            tok = transformers.AutoTokenizer.from_pretrained(str(path))
        else:
            tok = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        return [int(i) for i in tok(text)["input_ids"]], "transformers AutoTokenizer"
    except Exception as err:  # recorded, not fatal
        return None, f"transformers could not build a tokenizer: {type(err).__name__}: {str(err)[:200]}"


@torch.no_grad()
def greedy(model: Any, ids: list[int], steps: int) -> tuple[list[int], list[dict[str, float]], np.ndarray]:
    out = model(torch.tensor([ids]), use_cache=True)
    first = out.logits[0, -1].float().numpy().copy()
    generated: list[int] = []
    gaps: list[dict[str, float]] = []
    logits = out.logits[0, -1]
    past = out.past_key_values
    for _ in range(steps):
        top = torch.topk(logits, 2)
        token = int(torch.argmax(logits))
        generated.append(token)
        gaps.append({"id": token, "top1_minus_top2": float(top.values[0] - top.values[1])})
        out = model(torch.tensor([[token]]), past_key_values=past, use_cache=True)
        past, logits = out.past_key_values, out.logits[0, -1]
    return generated, gaps, first


def main() -> None:
    torch.manual_seed(0)
    report: dict[str, Any] = {
        "description": "Hugging Face transformers (float32, eager attention) on the tiny checkpoints of "
        "tests/importers/tiny.py: hf_reference_checkpoints; made by scripts/make_hf_references.py",
        "environment": {"torch": torch.__version__, "transformers": transformers.__version__},
        "prompt_text": HF_REFERENCE_PROMPT,
        "steps": HF_REFERENCE_STEPS,
        "checkpoints": {},
    }
    logits: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in hf_reference_checkpoints(Path(tmp), DATA).items():
            ours = load_model(path)
            our_ids = ours.tokenizer.encode(HF_REFERENCE_PROMPT)
            hf_ids, ids_source = hf_tokenizer_ids(path, HF_REFERENCE_PROMPT)
            if path.is_dir():
                model = transformers.AutoModelForCausalLM.from_pretrained(
                    str(path), dtype=torch.float32, attn_implementation="eager"
                ).eval()
                how = "AutoModelForCausalLM.from_pretrained(folder), BF16 upcast to float32"
            else:
                model = hf_from_gguf(path)
                how = "from_config + state dict decoded from the GGUF to float32"
            prompt_ids = hf_ids if hf_ids is not None else our_ids
            generated, gaps, first = greedy(model, prompt_ids, HF_REFERENCE_STEPS)
            report["checkpoints"][name] = {
                "model": how,
                "config": ours.config.to_dict(),
                "prompt_ids": prompt_ids,
                "prompt_ids_source": ids_source if hf_ids is not None else f"rusty-ir's tokenizer ({ids_source})",
                "generated_ids": generated,
                "greedy_steps": gaps,
            }
            logits[name] = first.astype(np.float32)
            print(
                f"{name}: prompt {prompt_ids} -> {generated} (min gap {min(g['top1_minus_top2'] for g in gaps):.3g}); "
                f"tokenizer: {ids_source[:90]}"
            )
    (DATA / "hf_reference.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    np.savez_compressed(DATA / "hf_reference_logits.npz", **logits)
    print(f"wrote {DATA / 'hf_reference.json'} and {DATA / 'hf_reference_logits.npz'}")


if __name__ == "__main__":
    main()
