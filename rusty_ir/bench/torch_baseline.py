"""The PyTorch baseline of ``rusty bench --vs-torch`` (and of the correctness guard for models too big for the
numpy interpreter): a Hugging Face model built from the same weights, its logits and its ``generate`` timings.
torch and transformers are optional: every function imports them when called."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NotRequired, TypedDict

import numpy as np

from rusty_ir.bench.options import _note
from rusty_ir.errors import RustyError

if TYPE_CHECKING:  # optional packages: mypy does not analyse them (pyproject.toml), so these are names, not checks
    import torch
    from transformers import PreTrainedModel

    from rusty_ir.importers.loaded import LoadedModel
    from rusty_ir.weights import TensorView


class TorchTimings(TypedDict):
    """``time_torch_generate``'s figures (the report's ``torch``)."""

    device: str
    dtype: str
    attention: str
    prefill_seconds: float
    prefill_tokens_per_s: float
    decode_seconds: float
    decode_tokens_per_s: float | None
    """None when the decode time came out as zero."""
    generate_seconds: float
    generated_ids: list[int]
    torch_version: str
    cuda_device: str | None
    greedy_prefix_match: NotRequired[int]
    """Leading token ids shared with ours (``rusty bench`` adds it)."""


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("transformers") is not None


def dequantize_torch(view: TensorView, device: str | torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A weight as a torch tensor on ``device`` (float32 by default), decoded there from its raw bytes
    (q4_0, q4_1, q8_0, f16, bf16, f32; other schemes through numpy on the host)."""
    import torch

    dtype = dtype or torch.float32
    name = view.scheme.name
    if name not in ("f32", "f16", "bf16", "q4_0", "q4_1", "q8_0"):
        return torch.from_numpy(view.to_numpy()).to(device=device, dtype=dtype)
    raw = torch.from_numpy(np.array(view.data, dtype=np.uint8, copy=True)).to(device)
    if name == "f32":
        out = raw.view(torch.float32)
    elif name == "f16":
        out = raw.view(torch.float16)
    elif name == "bf16":
        out = raw.view(torch.bfloat16)
    else:
        blocks = raw.view(-1, view.scheme.block_bytes)
        d = blocks[:, 0:2].contiguous().view(torch.float16).to(dtype)
        if name == "q8_0":
            out = blocks[:, 2:].contiguous().view(torch.int8).to(dtype) * d
        else:
            qs = blocks[:, 4:] if name == "q4_1" else blocks[:, 2:]
            q = torch.cat([qs & 0x0F, qs >> 4], dim=1).to(dtype)  # byte i: element i (low), i + 16 (high)
            if name == "q4_0":
                out = (q - 8) * d
            else:
                m = blocks[:, 2:4].contiguous().view(torch.float16).to(dtype)
                out = q * d + m
    return out.to(dtype).reshape(view.shape)


def _interleaved_to_half(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """rusty_ir.importers.export.interleaved_to_half on a torch tensor (llama.cpp's q/k row order -> HF's)."""
    d = w.shape[0] // n_heads
    return w.reshape(n_heads, d // 2, 2, *w.shape[1:]).transpose(1, 2).reshape(w.shape)


def torch_device_name() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def build_torch_model(model: LoadedModel, device: str, progress: Callable[[str], None] | None = None) -> PreTrainedModel:
    """A Hugging Face causal LM (float32, eager attention) on ``device`` holding ``model``'s weights."""
    import torch
    import transformers

    from rusty_ir.importers.export import hf_config_dict
    from rusty_ir.importers.safetensors import gguf_to_hf_name

    cfg = model.config
    if cfg.rope_scaling:
        raise RustyError(f"--vs-torch: rope scaling {dict(cfg.rope_scaling)} is not passed to the PyTorch model")
    transformers.logging.set_verbosity_error()
    hf = hf_config_dict(cfg)
    hf["torch_dtype"] = "float32"
    config_cls = transformers.Qwen2Config if cfg.arch == "qwen2" else transformers.LlamaConfig
    model_cls = transformers.Qwen2ForCausalLM if cfg.arch == "qwen2" else transformers.LlamaForCausalLM
    config = config_cls(**{k: v for k, v in hf.items() if k not in ("architectures", "model_type")})
    config._attn_implementation = "eager"
    try:  # skip the random initialisation: every parameter is overwritten below
        from transformers.initialization import no_init_weights
    except ImportError:
        try:
            from transformers.modeling_utils import no_init_weights
        except ImportError:
            from contextlib import nullcontext as no_init_weights
    start = time.perf_counter()
    with torch.device(device), no_init_weights():
        tm = model_cls(config)
    tm.eval()
    params = dict(tm.named_parameters())
    assigned = set()
    with torch.no_grad():
        for name in model.weights:
            if name == "rope_freqs.weight":
                continue
            hf_name = gguf_to_hf_name(name)
            if hf_name not in params:
                raise RustyError(f"--vs-torch: weight '{name}' ({hf_name}) has no place in the PyTorch model")
            w = dequantize_torch(model.weights[name], device)
            if cfg.rope_style == "interleaved":
                if name.endswith(("attn_q.weight", "attn_q.bias")):
                    w = _interleaved_to_half(w, cfg.n_heads)
                elif name.endswith(("attn_k.weight", "attn_k.bias")):
                    w = _interleaved_to_half(w, cfg.n_kv_heads)
            params[hf_name].copy_(w)
            assigned.add(hf_name)
            del w
        out_name, in_name = gguf_to_hf_name("output.weight"), gguf_to_hf_name("token_embd.weight")
        if cfg.tied_embeddings and out_name in params and out_name not in assigned:
            # without the random init transformers leaves the head untied: give it the embedding's values
            params[out_name].copy_(params[in_name])
            assigned.add(out_name)
    missing = [n for n in params if n not in assigned]
    if missing:
        raise RustyError(f"--vs-torch: PyTorch parameters left without weights: {missing[:5]}")
    tm.generation_config.eos_token_id = None
    tm.generation_config.pad_token_id = 0
    _note(progress, f"PyTorch model built on {device} in {time.perf_counter() - start:.1f} s")
    return tm


def torch_logits(tm: PreTrainedModel, ids: Sequence[int]) -> np.ndarray:
    import torch

    dev = next(tm.parameters()).device
    with torch.no_grad():
        out = tm(torch.tensor([list(ids)], device=dev), use_cache=False).logits[0, -1]
    return out.float().cpu().numpy()


def time_torch_generate(tm: PreTrainedModel, prompt: Sequence[int], decode_tokens: int, repeats: int, warmup: int) -> TorchTimings:
    """Greedy ``generate`` timings: prefill = generate(1 new token), decode = generate(decode_tokens + 1) minus that."""
    import torch

    dev = next(tm.parameters()).device
    ids = torch.tensor([list(prompt)], device=dev)
    mask = torch.ones_like(ids)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def gen(n: int) -> tuple[float, list[int]]:
        sync()
        start = time.perf_counter()
        with torch.no_grad():
            out = tm.generate(ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                              pad_token_id=0, eos_token_id=None)  # fmt: skip
        sync()
        return time.perf_counter() - start, out[0, ids.shape[1] :].tolist()

    firsts: list[float] = []
    diffs: list[float] = []
    generated: list[int] = []
    for r in range(max(1, warmup) + repeats):  # at least one warm-up: torch's first call is much slower
        t1, _ = gen(1)
        tn, generated = gen(decode_tokens + 1)
        if r >= max(1, warmup):
            firsts.append(t1)
            diffs.append(tn - t1)
    prefill_s = statistics.median(firsts)
    decode_s = statistics.median(diffs)
    return TorchTimings(
        device=str(dev),
        dtype=str(next(tm.parameters()).dtype).replace("torch.", ""),
        attention="eager",
        prefill_seconds=prefill_s,
        prefill_tokens_per_s=len(prompt) / prefill_s,
        decode_seconds=decode_s,
        decode_tokens_per_s=decode_tokens / decode_s if decode_s > 0 else None,
        generate_seconds=statistics.median(f + d for f, d in zip(firsts, diffs, strict=True)),
        generated_ids=generated,
        torch_version=torch.__version__,
        cuda_device=torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
    )
