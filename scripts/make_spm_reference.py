"""Make tests/data/spm_tiny.json: a tiny SentencePiece BPE vocabulary and its reference ids.

Not run in CI. Needs the `sentencepiece` package (pip install sentencepiece), which is a
test-data tool only: rusty-ir's own SentencePiece-style tokenizer is built with the
`tokenizers` library from a GGUF vocabulary, and tests/importers/test_small_models.py checks
it against the ids recorded here.

The model is trained like Llama's tokenizer (BPE, identity normalization, no whitespace
squashing, a dummy prefix, digits split, byte fallback). The vocabulary is written the way
llama.cpp's convert_hf_to_gguf.py writes one (pieces, scores, token types), and the
reference ids are what llama.cpp and Hugging Face's LlamaTokenizerFast give for "llama"
vocabularies: BOS, then sentencepiece's ids of the text.

    python scripts/make_spm_reference.py
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import sentencepiece as spm

CORPUS = (
    """\
The quick brown fox jumps over the lazy dog. The dog sleeps in the sun.
A tokenizer turns text into pieces; pieces become ids, and ids become text again.
Numbers like 12345 and 2024 are split into single digits by this vocabulary.
Hello world! Hello there, world. The world is wide and the sea is deep.
Compilers lower programs step by step: parse, check, optimize, emit.
  Indented lines   keep   their spaces, and tabs\tstay tabs.
Llamas live in the mountains; the llama eats grass and hums softly.
"""
    * 20
)

TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    " leading space and  double  spaces",
    "Numbers 12345 and 3.14159",
    "Unknown letters: Ünïcödé 日本語 🦙",
    "tabs\tand\nnewlines\n\nhere",
    "llamas",
]

# sentencepiece piece types -> GGUF token types (llama.cpp's llama_token_type)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def main() -> None:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS.splitlines()),
        model_writer=model,
        model_type="bpe",
        vocab_size=400,
        character_coverage=1.0,
        byte_fallback=True,
        split_digits=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        allow_whitespace_only_pieces=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        user_defined_symbols=["<|user|>"],
        minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            types.append(UNKNOWN)
        elif sp.is_control(i):
            types.append(CONTROL)
        elif sp.is_byte(i):
            types.append(BYTE)
        elif sp.is_unused(i):
            types.append(UNUSED)
        elif tokens[-1] == "<|user|>":
            types.append(USER_DEFINED)
        else:
            types.append(NORMAL)
    cases = [{"text": t, "ids": [sp.bos_id(), *sp.encode(t)]} for t in TEXTS]
    out = {
        "description": "Tiny SentencePiece BPE vocabulary (trained by scripts/make_spm_reference.py with "
        f"sentencepiece {spm.__version__}); ids = [BOS] + sentencepiece encode(text), which llama.cpp and "
        "Hugging Face's LlamaTokenizerFast reproduce for 'llama' vocabularies.",
        "tokens": tokens,
        "scores": scores,
        "token_types": types,
        "bos_token_id": sp.bos_id(),
        "eos_token_id": sp.eos_id(),
        "unknown_token_id": sp.unk_id(),
        "cases": cases,
    }
    path = Path(__file__).resolve().parent.parent / "tests" / "data" / "spm_tiny.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, ensure_ascii=False, indent=None) + "\n", encoding="utf-8")
    print(f"wrote {path} ({len(tokens)} tokens, {len(cases)} cases)")
    for c in cases:
        print(repr(c["text"]), [sp.id_to_piece(i) for i in c["ids"]])


if __name__ == "__main__":
    main()
