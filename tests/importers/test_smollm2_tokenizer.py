"""The GGUF-built tokenizer of SmolLM2 against the Hugging Face oracle (tests/data/oracle)."""

from __future__ import annotations

import pytest


def test_prompt_ids_match_oracle(smollm2, oracle):
    tok = smollm2.tokenizer
    for p in oracle["prompts"]:
        assert tok.encode(p["prompt_text"]) == p["input_ids"], p["name"]


def test_chat_template_reproduces_prompt_text(smollm2, oracle):
    chats = [p for p in oracle["prompts"] if p.get("messages")]
    assert chats, "the oracle records no chat messages"
    for p in chats:
        assert smollm2.tokenizer.apply_chat_template(p["messages"]) == p["prompt_text"], p["name"]
        assert smollm2.tokenizer.encode_chat(p["messages"]) == p["input_ids"], p["name"]


def test_no_bos_and_special_tokens_are_single_ids(smollm2, oracle):
    tok = smollm2.tokenizer
    assert smollm2.metadata["tokenizer.ggml.add_bos_token"] is False
    text = next(p for p in oracle["prompts"] if p["kind"] == "text")
    ids = tok.encode(text["prompt_text"])
    assert ids[0] != tok.bos_token_id
    im_start = tok.token_to_id("<|im_start|>")
    im_end = tok.token_to_id("<|im_end|>")
    assert tok.encode("<|im_start|>user<|im_end|>") == [im_start, *tok.encode("user"), im_end]
    assert smollm2.config.eos_token_ids == (smollm2.metadata["tokenizer.ggml.eos_token_id"],)


def test_decode_matches_oracle_text(smollm2, oracle):
    for p in oracle["prompts"]:
        assert smollm2.tokenizer.decode(p["generated_ids"]) == p["generated_text"], p["name"]


@pytest.mark.parametrize("skip_special", [False, True])
def test_streaming_decode_equals_full_decode(smollm2, oracle, skip_special):
    tok = smollm2.tokenizer
    for p in oracle["prompts"]:
        for ids in (p["generated_ids"], p["input_ids"]):
            stream = tok.stream(skip_special_tokens=skip_special)
            pieces = [stream.push(i) for i in ids]
            pieces.append(stream.flush())
            assert "".join(pieces) == tok.decode(ids, skip_special_tokens=skip_special), p["name"]
            # no piece ever holds a broken character
            assert all("\ufffd" not in piece for piece in pieces), p["name"]


def test_streaming_holds_back_partial_characters(smollm2):
    tok = smollm2.tokenizer
    text = "🦙 日本語"
    ids = tok.encode(text)
    assert len(ids) > len(text)  # byte-level pieces: some ids carry part of a character
    stream = tok.stream()
    out = [stream.push(i) for i in ids]
    assert "" in out and "".join(out) + stream.flush() == text
