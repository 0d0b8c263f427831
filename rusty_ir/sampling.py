"""Sampling: the options, their packing for the GPU, the host-side bookkeeping and a numpy reference.

No xDSL here: the runtime, the tools and the compiler all use it.

What a sampled token is (``tfm.sample`` / ``linalg_ext.sample`` compute exactly this; ``sample_token``
is the numpy reference the interpreters and the tests use):

1. Penalties. Each listed token id with ``count > 0`` has its logit ``l`` replaced by
   ``(l > 0 ? l / repetition : l * repetition) - count * frequency - presence``
   (the CTRL repetition penalty, then OpenAI's frequency and presence penalties, as llama.cpp).
2. Temperature: ``z = l * (1 / temperature)``; with ``temperature == 0`` the token is the
   smallest id with the largest (penalized) logit: greedy.
3. The kept set is ``{i : z_i >= tau}``, ``tau = max(tau_k, tau_p, tau_min)``, ``M = max z``,
   ``w_i = exp(z_i - M)``:
   - top-k: ``tau_k`` is the k-th largest ``z`` (``0 < top_k < vocab``; else no bound).
     Tokens tied with the k-th are kept too;
   - top-p: among ``z >= tau_k`` with ``W = sum w``, ``tau_p`` is the largest ``z_j`` whose
     ``{z >= z_j}`` holds at least ``top_p * W`` (``top_p < 1``; else no bound): the nucleus;
   - min-p: ``tau_min = M + ln(min_p)``, i.e. ``p_i >= min_p * p_max`` (``min_p > 0``).
4. The draw: with ``S`` the kept ``w``, the token is the smallest kept id whose running sum of
   ``w`` in ascending id order exceeds ``u * S``, for the uniform ``u`` in [0, 1) the host drew
   (the largest kept id if rounding leaves none).

The order (temperature, then top-k, top-p, min-p) is Hugging Face's and vLLM's. The host keeps the
random generator (one ``u`` per token, from ``seed``: a seed reproduces a run) and the penalty window
(the last ``penalty_last_n`` generated tokens, as llama.cpp's ``repeat_last_n``); the device only
reads the packed words below, so a token never reads the vocabulary's logits back.

Packed words (``pack``), int32, ``SAMPLING_WORDS`` of them; floats are stored as their bits:

====  ===================  ======================================================
word  field                meaning
====  ===================  ======================================================
0     temperature (f32)    0 = greedy
1     top_k (i32)          0 = off
2     top_p (f32)          1 = off
3     min_p (f32)          0 = off
4     repetition (f32)     1 = off
5     presence (f32)       0 = off
6     frequency (f32)      0 = off
7     u (f32)              the draw's uniform number in [0, 1)
8     n_penalized (i32)    pairs that follow, at most ``MAX_PENALIZED``
9..   (id, count) pairs    distinct ids in ascending order
====  ===================  ======================================================
"""

from __future__ import annotations

import math
import secrets
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from rusty_ir.errors import RustyError

if TYPE_CHECKING:
    import numpy as np

MAX_PENALIZED = 256
"""Distinct token ids the penalties can name per token: ``penalty_last_n`` is at most this."""
HEADER_WORDS = 9
"""Words before the (id, count) pairs."""
SAMPLING_WORDS = HEADER_WORDS + 2 * MAX_PENALIZED
"""Length of the packed int32 vector the sampling entries take."""
DEFAULT_PENALTY_LAST_N = 64
"""Generated tokens the penalties look back over unless given (llama.cpp's ``repeat_last_n``)."""
SAMPLE_ENTRIES = ("prefill_sample", "decode_sample")
"""The entries a model compiled with sampling has (``build_module(..., sampling_entries=True)``): (tokens, pos,
sampling: i32 [SAMPLING_WORDS]) -> the token drawn under the packed options, which the host writes before
each step like the tokens."""


@dataclass(frozen=True)
class SamplingParams:
    """How to choose each next token. The defaults are greedy (argmax), bit-identical to no sampling."""

    temperature: float = 0.0
    """Divides the logits; 0 = greedy (the largest logit, smallest id on ties)."""
    top_k: int = 0
    """Keep the k most likely tokens (ties with the k-th too); 0 = off."""
    top_p: float = 1.0
    """Keep the smallest set of most likely tokens holding this share of the probability; 1 = off."""
    min_p: float = 0.0
    """Keep tokens at least this fraction as likely as the most likely one; 0 = off."""
    repetition_penalty: float = 1.0
    """Divide positive (multiply negative) logits of recently generated tokens by this; 1 = off."""
    presence_penalty: float = 0.0
    """Subtract this from the logits of recently generated tokens; 0 = off."""
    frequency_penalty: float = 0.0
    """Subtract this times the token's count among recently generated tokens; 0 = off."""
    penalty_last_n: int = DEFAULT_PENALTY_LAST_N
    """How many of the last generated tokens the three penalties look at (at most ``MAX_PENALIZED``)."""
    seed: int | None = None
    """Seed of the random draws: the same seed, prompt and options give the same tokens. None = a fresh one."""

    def __post_init__(self) -> None:
        checks = (
            ("temperature", _finite(self.temperature) and self.temperature >= 0, "a number >= 0 (0 = greedy)"),
            ("top_k", _whole(self.top_k) and self.top_k >= 0, "a whole number >= 0 (0 = off)"),
            ("top_p", _finite(self.top_p) and 0 < self.top_p <= 1, "in (0, 1] (1 = off)"),
            ("min_p", _finite(self.min_p) and 0 <= self.min_p <= 1, "in [0, 1] (0 = off)"),
            ("repetition_penalty", _finite(self.repetition_penalty) and self.repetition_penalty > 0, "a number > 0 (1 = off)"),
            ("presence_penalty", _finite(self.presence_penalty), "a finite number (0 = off)"),
            ("frequency_penalty", _finite(self.frequency_penalty), "a finite number (0 = off)"),
            (
                "penalty_last_n",
                _whole(self.penalty_last_n) and 0 <= self.penalty_last_n <= MAX_PENALIZED,
                f"a whole number in 0..{MAX_PENALIZED}",
            ),
            ("seed", self.seed is None or (_whole(self.seed) and 0 <= self.seed < 2**64), "a whole number in 0..2**64-1"),
        )
        for name, ok, wanted in checks:
            if not ok:
                raise RustyError(f"{name} must be {wanted}, got {getattr(self, name)!r}")

    @property
    def penalized(self) -> bool:
        """Whether any penalty is on (each token's draw then depends on the tokens before it)."""
        on = self.repetition_penalty != 1 or self.presence_penalty != 0 or self.frequency_penalty != 0
        return on and self.penalty_last_n > 0

    @property
    def greedy(self) -> bool:
        """Plain argmax: temperature 0 and no penalty (the ``@prefill``/``@decode`` entries)."""
        return self.temperature == 0 and not self.penalized

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _whole(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def pack(params: SamplingParams, u: float, counts: Iterable[tuple[int, int]] = ()) -> np.ndarray:
    """The int32 words the sampling entries take (module docstring): ``params``, the draw's ``u``
    and the penalized (id, count) pairs (at most ``MAX_PENALIZED`` distinct ids)."""
    import numpy as np  # `rusty --help` reads this module's constants without numpy

    pairs = sorted((int(i), int(c)) for i, c in counts if c > 0)
    if len(pairs) > MAX_PENALIZED:
        raise RustyError(f"at most {MAX_PENALIZED} penalized token ids per draw, got {len(pairs)}")
    words = np.zeros(SAMPLING_WORDS, np.int32)
    floats = words.view(np.float32)
    floats[0] = params.temperature
    words[1] = min(params.top_k, 2**31 - 1)
    floats[2], floats[3], floats[4] = params.top_p, params.min_p, params.repetition_penalty
    floats[5], floats[6], floats[7] = params.presence_penalty, params.frequency_penalty, u
    words[8] = len(pairs)
    if pairs:
        words[HEADER_WORDS : HEADER_WORDS + 2 * len(pairs)] = np.array(pairs, np.int32).reshape(-1)
    return words


def unpack(words: np.ndarray) -> tuple[float, int, float, float, float, float, float, float, list[tuple[int, int]]]:
    """(temperature, top_k, top_p, min_p, repetition, presence, frequency, u, pairs) of packed words."""
    import numpy as np

    w = np.asarray(words, np.int32).reshape(-1)
    if w.size != SAMPLING_WORDS:
        raise RustyError(f"sampling words: expected {SAMPLING_WORDS}, got {w.size}")
    f = w.view(np.float32)
    n = int(np.clip(w[8], 0, MAX_PENALIZED))
    pairs = [(int(w[HEADER_WORDS + 2 * j]), int(w[HEADER_WORDS + 2 * j + 1])) for j in range(n)]
    return float(f[0]), int(w[1]), float(f[2]), float(f[3]), float(f[4]), float(f[5]), float(f[6]), float(f[7]), pairs


def sample_token(logits: np.ndarray, words: np.ndarray) -> int:
    """The token the sampling entries choose for these logits and packed words, in float32 (module docstring)."""
    import numpy as np

    temperature, top_k, top_p, min_p, repetition, presence, frequency, u, pairs = unpack(words)
    f32 = np.float32
    z = np.array(logits, np.float32, copy=True).reshape(-1)
    vocab = z.size
    # 1. penalties
    for i, count in pairs:
        if 0 <= i < vocab and count > 0:
            v = z[i] / f32(repetition) if z[i] > 0 else z[i] * f32(repetition)
            z[i] = f32(v) - f32(count) * f32(frequency) - f32(presence)
    # 2. temperature; greedy is the first largest
    if not temperature > 0:
        return int(np.argmax(z))
    z = z * f32(1.0 / f32(temperature))
    top = float(z.max())
    w = np.exp(z - f32(top)).astype(np.float32)
    # 3. thresholds
    tau = -math.inf
    order = np.argsort(-z, kind="stable")
    if 0 < top_k < vocab:
        tau = float(z[order[top_k - 1]])
    if top_p < 1:
        kept = order[z[order] >= tau]
        mass = np.cumsum(w[kept], dtype=np.float64)
        j = int(np.searchsorted(mass, top_p * mass[-1], side="left"))
        tau = max(tau, float(z[kept[min(j, kept.size - 1)]]))
    if min_p > 0:
        tau = max(tau, float(f32(top) + f32(math.log(min_p))))
    # 4. the draw, in ascending id order
    weights = np.where(z >= tau, w, f32(0)).astype(np.float64)
    running = np.cumsum(weights)
    hit = np.flatnonzero(running > u * running[-1])
    return int(hit[0]) if hit.size else int(np.flatnonzero(weights)[-1])


@dataclass
class Sampler:
    """One generation's sampling state on the host: the random generator and the penalty window.

    ``words()`` packs the options with the next uniform draw and the penalized ids (``ahead`` the words of several
    tokens to come, without drawing); ``accept(token)`` records a generated token (for the penalties).
    """

    params: SamplingParams
    seed: int = field(init=False)
    """The seed used (``params.seed``, or a fresh one when that is None): reported so a run can be repeated."""

    def __post_init__(self) -> None:
        import numpy as np

        self.seed = self.params.seed if self.params.seed is not None else secrets.randbits(63)
        self._rng = np.random.Generator(np.random.PCG64(self.seed))
        self._window: deque[int] = deque(maxlen=max(1, self.params.penalty_last_n))

    def words(self) -> np.ndarray:
        """Packed words for the next token (draws its ``u``)."""
        import numpy as np

        u = float(self._rng.random(dtype=np.float32))
        counts = Counter(self._window).items() if self.params.penalized else ()
        return pack(self.params, u, counts)

    def ahead(self, tokens: Sequence[int]) -> np.ndarray:
        """The packed words of the next ``len(tokens) + 1`` tokens, ``[len(tokens) + 1, SAMPLING_WORDS]``: row ``i`` is
        what ``words()`` would give once ``tokens[:i]`` were accepted (sampled speculation's verification rows, the
        drafts kept before them). Nothing is drawn: ``take()`` draws each row's ``u`` as its token is used."""
        import numpy as np

        state = self._rng.bit_generator.state
        window = deque(self._window, maxlen=self._window.maxlen)
        rows = []
        for i in range(len(tokens) + 1):
            counts = Counter(window).items() if self.params.penalized else ()
            rows.append(pack(self.params, float(self._rng.random(dtype=np.float32)), counts))
            if i < len(tokens):
                window.append(int(tokens[i]))
        self._rng.bit_generator.state = state
        return np.stack(rows)

    def take(self) -> None:
        """Draw the next token's ``u`` without packing it (its words came from ``ahead``)."""
        import numpy as np

        self._rng.random(dtype=np.float32)

    def accept(self, token: int) -> None:
        if self.params.penalized:
            self._window.append(int(token))


def streams(backend: Any, sampler: Sampler | None) -> bool:
    """Whether ``backend.decode_stream`` can make the next plain tokens: the backend has one, and they are greedy
    (``sampler`` None) or sampled without penalties (a stream queues each step before the token before it is read,
    and a penalty window needs that token)."""
    return hasattr(backend, "decode_stream") and (sampler is None or not sampler.params.penalized)


def asked_to_sample(params: SamplingParams) -> list[str]:
    """The options of ``params`` that ask to sample (away from their defaults; ``seed`` and ``penalty_last_n`` alone
    do not), in field order."""
    return [f.name for f in fields(SamplingParams) if f.name not in ("seed", "penalty_last_n") and getattr(params, f.name) != f.default]


def cannot_sample(backend: Any, params: SamplingParams) -> str | None:
    """Why ``backend`` cannot generate under ``params`` (sampling asked of a backend without the sampling entries, such
    as a ``rusty compile`` folder without ``--sampling``), naming the options that ask for it; None when it can."""
    if params.greedy or getattr(backend, "can_sample", False):
        return None
    return (f"the {backend.name} backend was built without the sampling entries, so it decodes greedily only: drop "
            f"{', '.join(asked_to_sample(params))}, or use a folder compiled with rusty compile --sampling")  # fmt: skip


def sampling_params(options: dict[str, Any]) -> SamplingParams:
    """``SamplingParams`` from keyword options (unknown names are an error naming them)."""
    unknown = sorted(set(options) - set(SamplingParams.field_names()))
    if unknown:
        raise RustyError(f"unknown sampling option{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
    return SamplingParams(**options)


__all__ = [
    "DEFAULT_PENALTY_LAST_N",
    "MAX_PENALIZED",
    "SAMPLE_ENTRIES",
    "SAMPLING_WORDS",
    "Sampler",
    "SamplingParams",
    "asked_to_sample",
    "cannot_sample",
    "pack",
    "sample_token",
    "sampling_params",
    "streams",
    "unpack",
]
