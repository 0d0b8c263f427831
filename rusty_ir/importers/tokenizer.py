"""Tokenizers built with the ``tokenizers`` library, from GGUF metadata or ``tokenizer.json``.

``Tokenizer`` wraps a ``tokenizers.Tokenizer`` with what a generator needs: ``encode``
(special tokens in the text map to single ids; BOS only when the checkpoint asks for it),
``decode``, a streaming decoder (``stream()``), the chat template and the end-of-generation
ids.

From GGUF:

- ``tokenizer.ggml.model == "gpt2"``: byte-level BPE from ``tokens``/``merges``, with the
  pre-tokenizer named by ``tokenizer.ggml.pre`` written as llama.cpp runs it (``PRE_TOKENIZERS``, every name
  llama.cpp gives one of the families GPT-2, SmolLM/StarCoder (each ``\\p{N}`` code point on its own, then GPT-2),
  Llama 3, Qwen2, Tekken (Mistral Nemo/Small), GPT-4o (Phi-4-mini), Seed-Coder and DeepSeek-Coder); Llama 3 and
  Tekken also ignore merges for words that are whole tokens and add BOS, as llama.cpp and Hugging Face do. Any other
  name is an error naming the supported ones.
- ``tokenizer.ggml.model == "llama"``: a SentencePiece BPE vocabulary with scores and
  ``<0xNN>`` byte-fallback tokens, built the way Hugging Face's ``LlamaTokenizerFast``
  converts one: BPE with merges ordered by the merged piece's score, byte fallback,
  spaces replaced by ``▁`` and a ``▁`` prepended to each text segment
  (``tokenizer.ggml.add_space_prefix``, default true).

Tokens of type CONTROL, USER_DEFINED and UNKNOWN become added tokens matched in raw text
(control and unknown ones are "special": ``decode(..., skip_special_tokens=True)`` drops them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rusty_ir.errors import RustyError, printable

if TYPE_CHECKING:
    from tokenizers import AddedToken  # imported when a tokenizer is built (``_tk``)

# GGUF token types (llama.cpp's llama_token_type)
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED, TOKEN_BYTE = 1, 2, 3, 4, 5, 6

_GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_LLAMA3_REGEX = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_REGEX = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_TEKKEN_REGEX = (  # Mistral Nemo / Small's tokenizer.json (llama.cpp spells the letter classes with lookaheads)
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_GPT4O_REGEX = (  # o200k's split (Phi-4-mini), as its tokenizer.json writes it
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_SEED_CODER_REGEX = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}"
    r"| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_DEEPSEEK_CODER = ("[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", "[一-龥ࠀ-一가-퟿]+", r"\p{N}")

_FAMILIES: dict[tuple[str, ...], tuple[tuple[str, ...], bool]] = {
    # llama.cpp's names (llama-vocab.cpp, llama_vocab::impl::load) -> (its regexes in order, ignore merges and add BOS)
    ("default", "gpt-2", "gpt2", "phi-2", "gigachat", "a.x-4.0", "mellum", "mpt", "olmo", "jais", "trillion",
     "granite-docling", "exaone4"): ((_GPT2_REGEX,), False),
    ("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "mellum2"): ((r"\p{N}", _GPT2_REGEX), False),
    ("llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"): ((_LLAMA3_REGEX,), True),
    ("smaug-bpe", "dbrx"): ((_LLAMA3_REGEX,), False),
    ("qwen2", "deepseek-r1-qwen", "megrez", "kormo", "f2llmv2", "stablelm2", "hunyuan", "solar-open"): ((_QWEN2_REGEX,), False),
    ("tekken",): ((_TEKKEN_REGEX,), True),
    ("gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"): ((_GPT4O_REGEX,), False),
    ("seed-coder",): ((_SEED_CODER_REGEX,), False),
    ("deepseek-coder",): (_DEEPSEEK_CODER, False),
}  # fmt: skip

PRE_TOKENIZERS: dict[str, tuple[str, ...]] = {name: regexes for names, (regexes, _) in _FAMILIES.items() for name in names}
"""GGUF ``tokenizer.ggml.pre`` names this importer implements -> the regexes llama.cpp splits with, in order (the
tokenizer.json originals where llama.cpp rewrites one for its regex engine; ``default``, which llama.cpp runs with its
own fallback regexes for files converted before the key existed, is GPT-2's). Any other name is refused."""

_IGNORE_MERGES = {name for names, (_, ignore) in _FAMILIES.items() if ignore for name in names}
"""Names for which llama.cpp sets ``ignore_merges`` (a word that is a whole token is that token) and adds BOS unless
``tokenizer.ggml.add_bos_token`` says otherwise."""
_NFC = {"qwen2", "deepseek-r1-qwen"}  # Hugging Face's Qwen2 tokenizer.json normalizes to NFC


def _tk():
    import tokenizers

    return tokenizers


class StreamDecoder:
    """Turns ids, one at a time, into text without splitting a multi-byte character.

    ``push(id)`` returns the text that became final with this id ("" while a character is
    still incomplete); ``flush()`` returns what is left (an incomplete character decodes
    to U+FFFD, as a full ``decode`` would). The concatenation of everything returned
    equals ``tokenizer.decode(all_ids)``.
    """

    def __init__(self, tokenizer: Tokenizer, skip_special_tokens: bool = False) -> None:
        self._tok = tokenizer
        self._skip = skip_special_tokens
        self._ids: list[int] = []
        self._prefix = 0  # start of the window we decode (context for the next piece)
        self._read = 0  # ids up to here have been emitted

    def _decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(ids, skip_special_tokens=self._skip)

    def push(self, token_id: int) -> str:
        self._ids.append(int(token_id))
        before = self._decode(self._ids[self._prefix : self._read])
        text = self._decode(self._ids[self._prefix :])
        if len(text) > len(before) and not text.endswith("\ufffd") and text.startswith(before):
            self._prefix, self._read = self._read, len(self._ids)
            return text[len(before) :]
        return ""

    def flush(self) -> str:
        before = self._decode(self._ids[self._prefix : self._read])
        text = self._decode(self._ids[self._prefix :])
        self._prefix = self._read = len(self._ids)
        return text[len(before) :] if text.startswith(before) else text

    def __call__(self, ids: Iterable[int]) -> Iterable[str]:
        """Yield the non-empty pieces for ``ids``, then whatever ``flush`` leaves."""
        for i in ids:
            piece = self.push(i)
            if piece:
                yield piece
        rest = self.flush()
        if rest:
            yield rest


class Tokenizer:
    """A checkpoint's tokenizer: encode, decode, stream, chat template, end-of-generation ids."""

    def __init__(
        self,
        tokenizer: Any,
        *,
        bos_token_id: int | None = None,
        eos_token_ids: Sequence[int] = (),
        chat_template: str | None = None,
        source: str = "",
    ) -> None:
        self.hf = tokenizer
        """The underlying ``tokenizers.Tokenizer``."""
        self.bos_token_id = bos_token_id
        self.eos_token_ids = tuple(dict.fromkeys(int(i) for i in eos_token_ids))
        self.chat_template = chat_template
        self.source = source

    # --- basic use ----------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size(with_added_tokens=True)

    @property
    def eos_token_id(self) -> int | None:
        return self.eos_token_ids[0] if self.eos_token_ids else None

    def token_to_id(self, token: str) -> int | None:
        return self.hf.token_to_id(token)

    def id_to_token(self, token_id: int) -> str | None:
        return self.hf.id_to_token(int(token_id))

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Token ids of ``text``. Special-token strings in the text become single ids;
        ``add_special_tokens`` adds BOS/EOS only where the checkpoint asks for them."""
        return list(self.hf.encode(text, add_special_tokens=add_special_tokens).ids)

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        return self.hf.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def stream(self, skip_special_tokens: bool = False) -> StreamDecoder:
        """A fresh streaming decoder (see ``StreamDecoder``)."""
        return StreamDecoder(self, skip_special_tokens)

    # --- chat -----------------------------------------------------------------------------
    def apply_chat_template(
        self,
        messages: Sequence[Mapping[str, Any]],
        add_generation_prompt: bool = True,
        **extra: Any,
    ) -> str:
        """Render ``messages`` ([{"role": ..., "content": ...}]) with the checkpoint's Jinja
        chat template, as Hugging Face's ``apply_chat_template(..., tokenize=False)`` does."""
        if not self.chat_template:
            raise RustyError(f"{self.source or 'tokenizer'}: the checkpoint has no chat template")
        from .chat_template import render_chat_template

        bos = self.id_to_token(self.bos_token_id) if self.bos_token_id is not None else ""
        eos = self.id_to_token(self.eos_token_id) if self.eos_token_id is not None else ""
        variables = {"messages": [dict(m) for m in messages], "add_generation_prompt": add_generation_prompt,
                     "bos_token": bos or "", "eos_token": eos or "", **extra}  # fmt: skip
        return render_chat_template(self.chat_template, variables, self.source or "tokenizer")

    def encode_chat(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True) -> list[int]:
        """Ids of the rendered chat prompt. The template writes any BOS itself, so nothing
        is added (Hugging Face's ``apply_chat_template(tokenize=True)`` does the same)."""
        return self.encode(self.apply_chat_template(messages, add_generation_prompt), add_special_tokens=False)

    # --- export ---------------------------------------------------------------------------
    def to_json(self) -> str:
        """The ``tokenizer.json`` text (loadable by ``tokenizers`` and Hugging Face)."""
        return self.hf.to_str()

    def save(self, path: str | Path) -> None:
        self.hf.save(str(path))


# --- building -----------------------------------------------------------------------------


def _post_processor(tokens: Sequence[str], bos_id: int | None, eos_id: int | None, add_bos: bool, add_eos: bool):
    tk = _tk()
    if not ((add_bos and bos_id is not None) or (add_eos and eos_id is not None)):
        return None
    specials = []
    single, pair = ["$A:0"], ["$A:0", "$B:1"]
    if add_bos and bos_id is not None:
        bos = tokens[bos_id]
        specials.append((bos, bos_id))
        single = [bos, *single]
        pair = [bos, "$A:0", bos, "$B:1"]
    if add_eos and eos_id is not None:
        eos = tokens[eos_id]
        if (eos, eos_id) not in specials:
            specials.append((eos, eos_id))
        single = [*single, eos]
        pair = [*pair[:2], eos, *pair[2:], eos]
    return tk.processors.TemplateProcessing(single=single, pair=pair, special_tokens=specials)


def _added_tokens(tokens: Sequence[str], types: Sequence[int] | None) -> list[tuple[int, AddedToken]]:
    tk = _tk()
    added: list[tuple[int, AddedToken]] = []
    if types is None:
        return added
    for i, (tok, typ) in enumerate(zip(tokens, types, strict=False)):
        if typ in (TOKEN_CONTROL, TOKEN_UNKNOWN):
            added.append((i, tk.AddedToken(tok, special=True, normalized=False)))
        elif typ == TOKEN_USER_DEFINED:
            added.append((i, tk.AddedToken(tok, special=False, normalized=False)))
    return added


def _register(tokenizer: Any, added: list[tuple[int, AddedToken]], source: str) -> None:
    """Add tokens, checking each keeps its id (tokenizers looks them up in the model vocab)."""
    if not added:
        return
    tokenizer.add_tokens([t for _, t in added])
    for i, t in added:
        got = tokenizer.token_to_id(t.content)
        if got != i:
            # duplicate strings in the vocab: the first one wins in tokenizers' added vocabulary
            if got is None:
                raise RustyError(f"{source}: special token '{printable(t.content)}' (id {i}) could not be registered")


def _bpe_model(source: str, **options: Any) -> Any:
    """``tokenizers.models.BPE(**options)``; RustyError when the vocabulary cannot make one (e.g. a merge of a
    token the vocabulary lacks: one corrupt byte in a token string does it)."""
    try:
        return _tk().models.BPE(**options)
    except Exception as e:  # tokenizers raises plain Exceptions
        raise RustyError(f"{source}: the vocabulary does not make a tokenizer ({printable(e, 200)})") from None


def _split_merges(merges: Sequence[str], source: str) -> list[tuple[str, str]]:
    out = []
    for m in merges:
        pos = m.find(" ", 1)  # llama.cpp: the first space after the first character
        if pos < 0:
            raise RustyError(f"{source}: malformed merge '{printable(m)}' in tokenizer.ggml.merges")
        out.append((m[:pos], m[pos + 1 :]))
    return out


def build_bpe_tokenizer(
    tokens: Sequence[str],
    merges: Sequence[str],
    *,
    pre: str,
    token_types: Sequence[int] | None = None,
    bos_id: int | None = None,
    eos_id: int | None = None,
    add_bos: bool = False,
    add_eos: bool = False,
    source: str = "",
) -> Any:
    """A byte-level BPE ``tokenizers.Tokenizer`` (GGUF ``tokenizer.ggml.model == "gpt2"``)."""
    tk = _tk()
    regexes = PRE_TOKENIZERS.get(pre)
    if regexes is None:
        raise RustyError(
            f"{source}: unsupported pre-tokenizer '{printable(pre)}' (key tokenizer.ggml.pre; supported: {', '.join(sorted(PRE_TOKENIZERS))})"
        )
    vocab: dict[str, int] = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    model = _bpe_model(
        source, vocab=vocab, merges=_split_merges(merges, source), ignore_merges=pre in _IGNORE_MERGES, fuse_unk=False, byte_fallback=False
    )
    tok = tk.Tokenizer(model)
    steps = []
    if regexes[-1] == _GPT2_REGEX:
        # the GPT-2 regex is ByteLevel's own, written the way Hugging Face's tokenizer.json does
        steps = [tk.pre_tokenizers.Split(tk.Regex(r), behavior="isolated") for r in regexes[:-1]]
        steps.append(tk.pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True))
    else:
        steps = [tk.pre_tokenizers.Split(tk.Regex(r), behavior="isolated") for r in regexes]
        steps.append(tk.pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False))
    tok.pre_tokenizer = steps[0] if len(steps) == 1 else tk.pre_tokenizers.Sequence(steps)
    if pre in _NFC:
        tok.normalizer = tk.normalizers.NFC()
    tok.decoder = tk.decoders.ByteLevel()
    _register(tok, _added_tokens(tokens, token_types), source)
    post = _post_processor(tokens, bos_id, eos_id, add_bos, add_eos)
    if post is not None:
        tok.post_processor = post
    return tok


def spm_merges(tokens: Sequence[str], scores: Sequence[float]) -> list[tuple[str, str]]:
    """BPE merges for a SentencePiece vocabulary, as Hugging Face's converter makes them.

    Every split of a piece into two pieces of the vocabulary is a merge; merges are ordered
    by the merged piece's score (highest first), ties by the ids of the two halves.
    """
    vocab: dict[str, int] = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    lengths = {len(t) for t in vocab}  # only splits into two lengths the vocabulary has can match
    merges: list[tuple[str, str, float]] = []
    for piece, score in zip(tokens, scores, strict=True):
        local = []
        for k in lengths:
            if not 1 <= k < len(piece) or len(piece) - k not in lengths:
                continue
            left, right = piece[:k], piece[k:]
            if left in vocab and right in vocab:
                local.append((left, right, float(score)))
        local.sort(key=lambda x: (vocab[x[0]], vocab[x[1]]))
        merges.extend(local)
    merges.sort(key=lambda x: x[2], reverse=True)  # stable: keeps the per-piece order
    return [(a, b) for a, b, _ in merges]


def build_spm_tokenizer(
    tokens: Sequence[str],
    scores: Sequence[float] | None,
    *,
    token_types: Sequence[int] | None = None,
    unk_id: int | None = 0,
    bos_id: int | None = 1,
    eos_id: int | None = 2,
    add_bos: bool = True,
    add_eos: bool = False,
    add_space_prefix: bool = True,
    source: str = "",
) -> Any:
    """A SentencePiece-style BPE ``tokenizers.Tokenizer`` (GGUF ``tokenizer.ggml.model == "llama"``),
    equivalent to Hugging Face's ``LlamaTokenizerFast`` (legacy) conversion."""
    tk = _tk()
    if scores is None:
        raise RustyError(f"{source}: a 'llama' (SentencePiece) vocabulary needs tokenizer.ggml.scores")
    vocab: dict[str, int] = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    unk = tokens[unk_id] if unk_id is not None and 0 <= unk_id < len(tokens) else None
    model = _bpe_model(source, vocab=vocab, merges=spm_merges(tokens, scores), unk_token=unk, fuse_unk=True, byte_fallback=True)
    tok = tk.Tokenizer(model)
    replace = tk.normalizers.Replace(" ", "\u2581")
    tok.normalizer = tk.normalizers.Sequence([tk.normalizers.Prepend("\u2581"), replace]) if add_space_prefix else replace
    decoders = [tk.decoders.Replace("\u2581", " "), tk.decoders.ByteFallback(), tk.decoders.Fuse()]
    if add_space_prefix:
        decoders.append(tk.decoders.Strip(" ", 1, 0))
    tok.decoder = tk.decoders.Sequence(decoders)
    _register(tok, _added_tokens(tokens, token_types), source)
    post = _post_processor(tokens, bos_id, eos_id, add_bos, add_eos)
    if post is not None:
        tok.post_processor = post
    return tok


_ITEMS: dict[type, tuple[tuple[type, ...], str]] = {str: ((str,), "strings"), int: ((int,), "integers"), float: ((int, float), "numbers")}


def _array(meta: Mapping[str, Any], key: str, source: str, kind: type, length: int | None = None) -> list[Any] | None:
    """``meta[key]`` as a list of ``kind`` (str, int, or float: any number), of ``length`` items when given; None when
    absent; RustyError naming the key otherwise."""
    value = meta.get(key)
    if value is None:
        return None
    types, what = _ITEMS[kind]
    if not isinstance(value, list) or not all(type(v) in types for v in value):
        raise RustyError(f"{source}: {key} must be an array of {what}")
    if length is not None and len(value) != length:
        raise RustyError(f"{source}: {key} has {len(value)} entries for {length} tokens")
    return value


def tokenizer_from_gguf(meta: Mapping[str, Any], source: str) -> Tokenizer:
    """The tokenizer described by GGUF metadata (``tokenizer.ggml.*``, ``tokenizer.chat_template``)."""
    from .config import Fields

    fields = Fields(meta, source)
    kind = fields.get("tokenizer.ggml.model", str, None)
    tokens = _array(meta, "tokenizer.ggml.tokens", source, str)
    if kind is None or tokens is None:
        raise RustyError(f"{source}: no tokenizer in the file (keys tokenizer.ggml.model / tokenizer.ggml.tokens)")
    n = len(tokens)
    types = _array(meta, "tokenizer.ggml.token_type", source, int, n)
    ids = {k: fields.get(f"tokenizer.ggml.{k}_token_id", int, None) for k in ("bos", "eos", "eot", "eom", "unknown")}
    for key, val in ids.items():
        if val is not None and not 0 <= val < n:
            raise RustyError(f"{source}: tokenizer.ggml.{key}_token_id={val} is outside the vocabulary of {n} tokens")
    bos, eos = ids["bos"], ids["eos"]
    flags = {k: fields.get(f"tokenizer.ggml.{k}", bool, None) for k in ("add_bos_token", "add_eos_token", "add_space_prefix")}
    template = fields.get("tokenizer.chat_template", str, None)
    if kind == "gpt2":
        merges = _array(meta, "tokenizer.ggml.merges", source, str)
        if merges is None:
            raise RustyError(f"{source}: byte-level BPE vocabulary without merges (key tokenizer.ggml.merges)")
        pre = fields.get("tokenizer.ggml.pre", str, "default")
        hf = build_bpe_tokenizer(
            tokens,
            merges,
            pre=pre,
            token_types=types,
            bos_id=bos,
            eos_id=eos,
            add_bos=pre in _IGNORE_MERGES if flags["add_bos_token"] is None else flags["add_bos_token"],
            add_eos=bool(flags["add_eos_token"]),
            source=source,
        )
    elif kind == "llama":
        bos = 1 if bos is None else bos
        eos = 2 if eos is None else eos
        for key, val in (("bos", bos), ("eos", eos)):  # llama.cpp's defaults must exist too
            if not 0 <= val < n:
                raise RustyError(f"{source}: the SentencePiece {key} token (id {val}) is outside the vocabulary of {n} tokens")
        scores = _array(meta, "tokenizer.ggml.scores", source, float, n)
        hf = build_spm_tokenizer(
            tokens,
            scores,
            token_types=types,
            unk_id=0 if ids["unknown"] is None else ids["unknown"],
            bos_id=bos,
            eos_id=eos,
            add_bos=flags["add_bos_token"] is not False,
            add_eos=bool(flags["add_eos_token"]),
            add_space_prefix=flags["add_space_prefix"] is not False,
            source=source,
        )
    else:
        raise RustyError(f"{source}: unsupported tokenizer model '{printable(kind)}' (key tokenizer.ggml.model; supported: gpt2, llama)")
    eos_ids = [x for x in (eos, ids["eot"], ids["eom"]) if x is not None]
    return Tokenizer(hf, bos_token_id=bos, eos_token_ids=eos_ids, chat_template=template, source=source)


def _read(path: Path, parse: Any = lambda text: text) -> Any:
    """``parse`` of a UTF-8 file's text; RustyError naming the file when it cannot be read or parsed."""
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (ValueError, OSError, RecursionError) as e:
        raise RustyError(f"{path}: cannot read: {printable(e, 200)}") from None


def tokenizer_from_folder(folder: Path, *, bos_token_id: int | None, eos_token_ids: Sequence[int]) -> Tokenizer:
    """The tokenizer of a Hugging Face folder: ``tokenizer.json``, plus the chat template from
    ``chat_template.jinja`` or ``tokenizer_config.json`` when present."""
    tk = _tk()
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise RustyError(f"{folder}: no tokenizer.json")
    try:
        hf = tk.Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises plain Exceptions
        raise RustyError(f"{path}: cannot read the tokenizer: {printable(e, 200)}") from None
    jinja_file = folder / "chat_template.jinja"
    cfg_file = folder / "tokenizer_config.json"
    template = _read(jinja_file) if jinja_file.is_file() else None
    tcfg = _read(cfg_file, json.loads) if cfg_file.is_file() else {}
    if not isinstance(tcfg, dict):
        raise RustyError(f"{cfg_file}: expected a JSON object")
    if template is None and isinstance(tcfg.get("chat_template"), str):
        template = tcfg["chat_template"]
    elif template is None and isinstance(tcfg.get("chat_template"), list):  # [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in tcfg["chat_template"] if isinstance(t, dict)}
        template = named.get("default") or next(iter(named.values()), None)
        if template is not None and not isinstance(template, str):
            raise RustyError(f"{cfg_file}: chat_template entries must hold a template string")
    if bos_token_id is None and isinstance(tcfg.get("bos_token"), str):
        bos_token_id = hf.token_to_id(tcfg["bos_token"])
    if not eos_token_ids and isinstance(tcfg.get("eos_token"), str):
        eid = hf.token_to_id(tcfg["eos_token"])
        eos_token_ids = [eid] if eid is not None else []
    return Tokenizer(hf, bos_token_id=bos_token_id, eos_token_ids=eos_token_ids, chat_template=template, source=str(path))
