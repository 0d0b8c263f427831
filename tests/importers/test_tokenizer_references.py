"""GGUF tokenizers against transformers and Hugging Face's tokenizer definitions (issue 13).

tests/data/tokenizer_references.json (scripts/make_tokenizer_references.py) holds a byte-level BPE vocabulary whose
merges cross every kind of boundary, and the ids transformers' GGUF tokenizer builder (or the family's tokenizer.json
pre-tokenizer) gives for it under each ``tokenizer.ggml.pre`` family; and a Gemma-style SentencePiece vocabulary with
the ids of transformers' Gemma builder. The importer's ``tokenizer_from_gguf`` must give the same ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tokenizers.pre_tokenizers import ByteLevel

from rusty_ir.errors import RustyError
from rusty_ir.importers.tokenizer import PRE_TOKENIZERS, build_bpe_tokenizer, tokenizer_from_gguf

from .tiny import byte_level_alphabet, split_isolated

DATA = Path(__file__).resolve().parents[1] / "data"
REF: dict[str, Any] = json.loads((DATA / "tokenizer_references.json").read_text(encoding="utf-8"))


def _bpe_meta(pre: str, **extra: Any) -> dict[str, Any]:
    tokens = REF["bpe"]["tokens"]
    return {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": pre, "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.merges": REF["bpe"]["merges"], "tokenizer.ggml.token_type": [3] * 3 + [1] * (len(tokens) - 3),
            "tokenizer.ggml.bos_token_id": 0, "tokenizer.ggml.eos_token_id": 0, **extra}  # fmt: skip


@pytest.mark.parametrize("pre", sorted(REF["pre"]))
def test_pre_tokenizer_families_match_transformers(pre: str) -> None:
    tok = tokenizer_from_gguf(_bpe_meta(pre), "tiny.gguf")
    for text, want in zip(REF["texts"], REF["pre"][pre]["ids"], strict=True):
        assert tok.encode(text, add_special_tokens=False) == want, (pre, text)
        assert tok.decode(want) == text


def test_the_families_differ() -> None:
    """The vocabulary tells the families apart: otherwise matching them would say nothing."""
    distinct = {json.dumps(r["ids"]) for r in REF["pre"].values()}
    assert len(distinct) >= 8


@pytest.mark.parametrize("pre", sorted(PRE_TOKENIZERS))
def test_every_name_splits_like_its_regexes(pre: str) -> None:
    """Every implemented name (aliases included): the tokenizers pipeline splits where llama.cpp's regexes do."""
    tok = build_bpe_tokenizer(REF["bpe"]["tokens"], REF["bpe"]["merges"], pre=pre)
    assert set(byte_level_alphabet()) == set(ByteLevel.alphabet())  # GPT-2's bytes_to_unicode, as the library has it
    alphabet = {c: b for b, c in enumerate(byte_level_alphabet())}
    for text in REF["texts"]:
        pieces = [text]
        for rx in PRE_TOKENIZERS[pre]:
            pieces = [p for piece in pieces for p in split_isolated(rx, piece)]
        got = [bytes(alphabet[c] for c in s).decode("utf-8") for s, _ in tok.pre_tokenizer.pre_tokenize_str(text)]
        assert got == pieces, (pre, text)


@pytest.mark.parametrize(("pre", "bos"), [("llama-bpe", True), ("tekken", True), ("smaug-bpe", False), ("qwen2", False)])
def test_bos_follows_llama_cpp_when_the_file_does_not_say(pre: str, bos: bool) -> None:
    tok = tokenizer_from_gguf(_bpe_meta(pre), "tiny.gguf")
    assert (tok.encode("hi")[:1] == [0]) is bos
    assert tokenizer_from_gguf(_bpe_meta(pre, **{"tokenizer.ggml.add_bos_token": False}), "tiny.gguf").encode("hi")[0] != 0


@pytest.mark.parametrize("pre", ["deepseek-llm", "chatglm-bpe", "kimi-k2", "bloom"])
def test_unsupported_pre_tokenizer_is_named(pre: str) -> None:
    with pytest.raises(RustyError, match=rf"tiny.gguf: unsupported pre-tokenizer '{pre}' \(key tokenizer.ggml.pre; supported: .*llama-bpe"):
        tokenizer_from_gguf(_bpe_meta(pre), "tiny.gguf")


def test_gemma_sentencepiece_matches_transformers() -> None:
    """Gemma's GGUF vocabulary: no space prefix (``add_space_prefix = false``), BOS added, newlines as user-defined
    tokens, control tokens whole (runs of spaces: checked on the real Gemma 3 270M file, docs/importing.md)."""
    g = REF["gemma"]
    v = g["vocab"]
    meta = {"tokenizer.ggml.model": "llama", "tokenizer.ggml.pre": "default", "tokenizer.ggml.tokens": v["tokens"],
            "tokenizer.ggml.scores": v["scores"], "tokenizer.ggml.token_type": v["token_type"],
            "tokenizer.ggml.bos_token_id": v["bos_token_id"], "tokenizer.ggml.eos_token_id": v["eos_token_id"],
            "tokenizer.ggml.unknown_token_id": v["unknown_token_id"], "tokenizer.ggml.add_bos_token": True,
            "tokenizer.ggml.add_space_prefix": False}  # fmt: skip
    tok = tokenizer_from_gguf(meta, "gemma.gguf")
    for text, want in zip(g["texts"], g["ids"], strict=True):
        assert tok.encode(text, add_special_tokens=False) == want, text
        assert tok.encode(text) == [v["bos_token_id"], *want]
        assert tok.decode(want) == text
    assert tok.encode("Hello")[1] != tok.encode(" Hello")[1]  # no prefix space: "Hello" is not "▁Hello"
