"""The Python API: ``rusty_ir.load(...)`` gives a ``Model`` that generates, streams and chats.

::

    import rusty_ir

    model = rusty_ir.load()                       # the bundled SmolLM2, compiled (cached) for this GPU
    print(model.chat("What is the capital of France?").text)
    for piece in model.stream("Once upon a time", max_tokens=32, temperature=0.8, seed=1):
        print(piece, end="")

``load`` takes the options of ``rusty run`` as keyword arguments, with the same defaults;
``generate``, ``stream`` and ``chat`` take the generation options (``max_tokens``, ``stop``,
``ignore_eos``, ``cancel``) and the sampling options of ``rusty_ir.sampling.SamplingParams``
(``temperature``, ``top_k``, ``top_p``, ``min_p``, the penalties, ``seed``; greedy by default).
One ``Model`` keeps one KV cache: a prompt that continues the previous one (a chat's next turn)
prefills only its new tokens. docs/python.md is the guide.

This module also builds the backends for the ``rusty`` tool (``open_model``), so the CLI and the
API run a model the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rusty_ir.errors import RustyError
from rusty_ir.progress import Progress
from rusty_ir.sampling import SamplingParams, sampling_params
from rusty_ir.speculative import DEFAULT_DRAFT_TOKENS, SpeculativeOptions, Speculator, check_same_vocabulary, cpu_adapter_warning
from rusty_ir.stages import DEFAULT_KV_BLOCK_SIZE

if TYPE_CHECKING:
    from rusty_ir.generate import GenerationResult

DEFAULT_MAX_TOKENS = 64
DEFAULT_CONTEXT_CAP = 8192
"""Without a context length: the model's own, capped at this many positions. The paged KV cache
takes memory as the sequence grows, so a long default costs nothing until it is used (a contiguous
cache, ``kv_block_size=0``, is sized for it at load)."""
MAX_CONTEXT_LENGTH = 2**31 - 1
"""The largest --context-length (positions are 32-bit in the kernels)."""


def parse_bytes(text: str) -> int:
    """``--kv-device-budget``: a whole number of bytes, or with a K, M, G or T suffix (powers of 1024; ``KiB``/``KB``
    alike). RustyError for anything else, zero or a negative number."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = t[-1:] if t[-1:] in units and t[-1:] != "" else ""
    try:
        value = float(t[: len(t) - len(unit)]) * units[unit]
    except ValueError:
        raise RustyError(f"--kv-device-budget must be a number of bytes (e.g. 2G, 512M, 1000000), got '{text}'") from None
    if not value >= 1 or value != value or value == float("inf"):
        raise RustyError(f"--kv-device-budget must be a positive number of bytes, got '{text}'")
    return int(value)


def _gpu_refusal(err: Exception, context_length: int) -> RustyError | None:
    """A user error for a buffer the GPU refuses (past its limits or its memory), e.g. at a huge --context-length;
    None for any other error (a real bug stays an internal error)."""
    import wgpu

    text = str(err).strip()
    if isinstance(err, wgpu.GPUOutOfMemoryError) or (isinstance(err, wgpu.GPUValidationError) and "buffer size" in text.lower()):
        return RustyError(f"the GPU cannot hold this model with --context-length {context_length} "
                          f"({text.splitlines()[-1].strip()}): give a smaller --context-length, or --resident-layers")  # fmt: skip
    return None


BACKENDS = ("reference", "wgpu")
"""What runs the model: the numpy interpreter of the transformer IR, or the compiled kernels on wgpu."""


@dataclass(frozen=True)
class LoadOptions:
    """How ``open_model`` loads and compiles a model: ``rusty run``'s flags and ``load``'s keywords."""

    backend: str = "wgpu"
    context_length: int | None = None
    """KV-cache positions; None = the model's own, at most ``DEFAULT_CONTEXT_CAP``."""
    compiled: str | None = None
    """A folder from ``rusty compile -o DIR`` to run instead of compiling (wgpu)."""
    resident_layers: int | None = None
    """Layer streaming: keep only this many layers' weights on the GPU (wgpu)."""
    sampling: bool = True
    """Compile the sampling entries too (needed for anything but greedy)."""
    compile: dict[str, Any] = field(default_factory=dict)
    """``CompileOptions`` fields: tune, quantize, kv_cache, kv_block_size, pass_pipeline, insert_after, insert_before."""
    speculate: str | None = None
    """Speculative decoding (greedy or sampled): ``lookup`` (prompt lookup) or ``draft`` (a draft model, ``draft``);
    None = off. Compiles the ``@verify`` entry (``rusty_ir.speculative``)."""
    draft: str | None = None
    """The draft model (a checkpoint with the same tokenizer) of ``speculate="draft"``."""
    draft_tokens: int = DEFAULT_DRAFT_TOKENS
    """Tokens drafted per verification step (1..32)."""
    kv_device_budget: int | str | None = None
    """Bytes of device memory the KV cache may take (wgpu); past them its oldest blocks live in host memory
    (``rusty_ir/backends/runtime/offload.py``). A string takes K/M/G/T suffixes (``parse_bytes``). None: half the
    adapter's memory less the weights where wgpu's adapter says what it is (a CPU adapter: the RAM), else no limit."""

    def __post_init__(self) -> None:
        """Checks, named by ``rusty run``'s flags (the keywords of ``load`` are the same options)."""
        from rusty_ir.driver import CompileOptions  # no compiler behind it

        budget = self.kv_device_budget
        if isinstance(budget, str):
            object.__setattr__(self, "kv_device_budget", parse_bytes(budget))
        elif budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
            raise RustyError(f"--kv-device-budget must be a positive number of bytes, got {budget!r}")
        if self.backend not in BACKENDS:
            raise RustyError(f"unknown backend '{self.backend}' (known: {', '.join(BACKENDS)})")
        if self.speculate is not None:
            SpeculativeOptions(self.speculate, self.draft_tokens)  # checks the mode and K
            if self.speculate == "draft" and self.draft is None:
                raise RustyError("--speculate draft needs a draft model: give --draft MODEL (same tokenizer, smaller model)")
        if self.draft is not None and self.speculate != "draft":
            raise RustyError("--draft MODEL applies to --speculate draft")
        if self.context_length is not None and not 1 <= self.context_length <= MAX_CONTEXT_LENGTH:
            raise RustyError(f"--context-length must be from 1 to {MAX_CONTEXT_LENGTH}, got {self.context_length}")
        if self.resident_layers is not None and self.resident_layers < 1:
            raise RustyError(f"--resident-layers must be at least 1 (layers kept on the GPU), got {self.resident_layers}")
        CompileOptions(**self.compile)  # its checks (a pipeline's stages, a scheme's name) before anything is loaded
        changed = [k for k, v in self.compile.items() if v != getattr(CompileOptions(), k)]

        def flags(names: Sequence[str]) -> str:
            return ", ".join(f"--{n.replace('_', '-')}" for n in names)

        if self.compiled is not None and changed:
            raise RustyError(f"{flags(changed)} applies when compiling; a --compiled folder is already compiled")
        if self.backend == "wgpu":
            return
        if self.compiled is not None:
            raise RustyError("--compiled runs a compiled model on the wgpu backend")
        wgpu_only = [k for k in changed if k != "quantize"] + ["resident_layers"] * (self.resident_layers is not None)
        wgpu_only += ["kv_device_budget"] * (self.kv_device_budget is not None)
        if wgpu_only:  # the reference interpreter quantizes too
            raise RustyError(f"{flags(wgpu_only)} applies to the wgpu backend")


def resolve_model_path(model: str | Path | None) -> Path:
    """The checkpoint to load: ``model``, or the bundled SmolLM2; a missing path is an error with a hint."""
    from rusty_ir.importers import default_model_path

    if model is None:
        return default_model_path()
    path = Path(model)
    if not path.exists():
        text = str(model)
        hint = ""
        if text.count("/") == 1 and not text.startswith((".", "/", "~")):
            hint = (f"; '{text}' looks like a Hugging Face model id: rusty reads local files, so download it first "
                    f"(for example `hf download {text} --local-dir {text.split('/')[1]}`) and pass the folder or a .gguf file")  # fmt: skip
        raise RustyError(f"no such file or folder: '{text}'{hint}")
    return path


def load_checkpoint(model: str | Path | None, progress: Progress) -> Any:
    """The imported checkpoint (``rusty_ir.importers.LoadedModel``) of ``model`` (default: the bundled SmolLM2)."""
    from rusty_ir.importers import load_model  # keep `import rusty_ir` and --help fast

    path = resolve_model_path(model)
    done = progress.step(f"loading {path}")
    loaded = load_model(path)
    done(f"{loaded.config.arch}, {loaded.config.n_layers} layers, {loaded.weights.nbytes / 2**20:.0f} MiB of weights")
    return loaded


def context_length_for(model: Any, requested: int | None) -> int:
    """The KV-cache positions to build for: ``requested`` (at most what the model was trained for), or
    the model's own capped at ``DEFAULT_CONTEXT_CAP``."""
    limit = model.config.context_length
    if requested is not None and limit and requested > limit:
        raise RustyError(
            f"the context length {requested} is past what the model was trained for ({limit} positions): "
            f"give --context-length {limit} or less"
        )
    return requested or min(limit or DEFAULT_CONTEXT_CAP, DEFAULT_CONTEXT_CAP)


def build_backend(model: Any, options: LoadOptions, progress: Progress) -> tuple[Any, int, dict[str, Any] | None]:
    """The backend of a loaded model: (the backend, its context length, the wgpu backend's compile report or None)."""
    context_length = context_length_for(model, options.context_length)
    if options.backend == "reference":
        return _reference_backend(model, context_length, options, progress), context_length, None
    backend, report = _wgpu_backend(model, context_length, options, progress)
    return backend, context_length, report


def build_speculator(model: Any, options: LoadOptions, context_length: int, progress: Progress) -> Speculator | None:
    """The speculative decoder of ``options.speculate`` (None when off). For ``draft``: the draft checkpoint loaded,
    its vocabulary checked against ``model``'s (a RustyError if they differ), and its backend built like the
    model's (same backend, context length and compile options; greedy entries only)."""
    if options.speculate is None:
        return None
    spec = SpeculativeOptions(options.speculate, options.draft_tokens)
    if options.speculate != "draft":
        return Speculator(spec)
    draft = load_checkpoint(options.draft, progress)
    check_same_vocabulary(model, draft)
    if draft.config.context_length and draft.config.context_length < context_length:
        raise RustyError(f"--draft {draft.source}: trained for {draft.config.context_length} positions, fewer than the context "
                         f"length {context_length}: give --context-length {draft.config.context_length} or less")  # fmt: skip
    draft_options = replace(options, speculate=None, draft=None, sampling=False, compiled=None, context_length=context_length)
    backend, _, _ = build_backend(draft, draft_options, progress)
    return Speculator(spec, backend, vocab=model.config.vocab)


def open_model(model: str | Path | None, options: LoadOptions, progress: Progress) -> Model:
    """``load_checkpoint``, ``build_speculator`` (before the backend: a draft model with another vocabulary is refused
    before anything compiles) and ``build_backend``, as a ``Model``."""
    loaded = load_checkpoint(model, progress)
    speculator = build_speculator(loaded, options, context_length_for(loaded, options.context_length), progress)
    runtime, length, report = build_backend(loaded, options, progress)
    return Model(loaded, runtime, length, report, progress, speculator)


def _reference_backend(model: Any, context_length: int, options: LoadOptions, progress: Progress) -> Any:
    from rusty_ir.driver import quantize_module, quantized_weights
    from rusty_ir.generate import ReferenceBackend
    from rusty_ir.importers.to_ir import build_module

    done = progress.step("building transformer IR")
    module = build_module(model.config, model.weights, sampling_entries=options.sampling, verify_entry=options.speculate is not None)
    done()
    quantize = options.compile.get("quantize", "")
    weights = quantized_weights(quantize_module(module, quantize), model.weights, keep=True) if quantize else model.weights
    return ReferenceBackend(module, weights, context_length)


def _wgpu_backend(model: Any, context_length: int, options: LoadOptions, progress: Progress) -> tuple[Any, dict[str, Any]]:
    """The wgpu runtime on a model compiled through the cache for this adapter's target, or on the
    folder ``options.compiled`` (``rusty compile -o DIR``). Neither path imports the compiler when
    nothing is compiled."""
    from rusty_ir.backends.runtime import Device
    from rusty_ir.backends.runtime.device import adapter_warning
    from rusty_ir.backends.runtime.model import ModelRuntime
    from rusty_ir.driver import Artifact, CompileOptions, compile_model
    from rusty_ir.targets import check_subgroups, target_for_adapter

    device = Device()
    for warning in (adapter_warning(device.adapter), options.speculate and cpu_adapter_warning(device.adapter.info)):
        if warning:
            progress.warn_once(warning)
    folder: Path | None
    if options.compiled is not None:
        done = progress.step(f"loading the compiled model in {options.compiled}")
        start = time.perf_counter()
        artifact, folder, cache_hit = Artifact.load(Path(options.compiled)), Path(options.compiled), None
        seconds = time.perf_counter() - start
        compiled_with = artifact.manifest.get("options") or {}
        _check_features(device, compiled_with.get("kv_cache", "f32"))
        target, tuned = compiled_with.get("target"), compiled_with.get("tune")
        check_subgroups(str(target), device.info)
        done()
    else:
        compile_options = CompileOptions(target=target_for_adapter(device.info), sampling_entries=options.sampling,
                                         verify_entry=options.speculate is not None, **options.compile)  # fmt: skip
        _check_features(device, compile_options.kv_cache)
        done = progress.step("compiling (cached after the first run)")
        stages = len(compile_options.stages)
        with progress.bar(stages, "compiling", "stage") as advance:

            def on_stage(message: str) -> None:
                advance(1)
                if not progress.bars:
                    progress.note(message)

            result = compile_model(model, compile_options, adapter=device.identity, progress=on_stage)
        artifact, folder, cache_hit, seconds = result.artifact, result.folder, result.cache_hit, result.seconds
        target, tuned = compile_options.target, compile_options.tune
        done("cache hit" if cache_hit else f"{artifact.manifest['kernels']} kernels")
    done = progress.step("loading kernels and weights onto the GPU")
    with progress.bar(model.weights.nbytes, "uploading weights", "B") as advance:
        try:
            runtime = ModelRuntime(artifact.schedule, artifact.wgsl, artifact.runtime_weights(model.weights), context_length, device,
                                   resident_layers=options.resident_layers, on_upload=advance,
                                   kv_device_budget=cast("int | None", options.kv_device_budget))  # fmt: skip
        except RustyError:
            raise
        except Exception as err:
            raise _gpu_refusal(err, context_length) or err from None
    done()
    if options.speculate is not None and not runtime.can_verify:
        raise RustyError(f"--speculate needs the @verify entry, which {options.compiled} was compiled without; compile it "
                         "with rusty compile --speculate, or run without --compiled (it is then compiled, and cached, with the entry)")  # fmt: skip
    report = {
        "cache_hit": cache_hit,
        "compile_seconds": round(seconds, 3),
        "load_seconds": round(runtime.load_seconds, 3),
        "kernels": artifact.manifest.get("kernels"),
        "target": target,
        "tune": tuned,
        "dispatches_per_token": runtime.dispatches_per_step("decode"),
        "dispatches_per_prefill": runtime.dispatches_per_step("prefill"),
        "dispatches_per_verify": runtime.dispatches_per_step("verify") if runtime.can_verify else None,
        "can": {"sample": runtime.can_sample, "verify": runtime.can_verify, "verify_sample": runtime.can_verify_sample},
        "cache_folder": str(folder) if folder else None,
        "resident_layers": runtime.resident_layers,  # None: every layer's weights on the device
        "memory_planning": runtime.memory_planning_report(),
    }
    return runtime, report


def _check_features(device: Any, kv_cache: str) -> None:
    """Refuse, before compiling, what the adapter cannot run: an f16 KV cache needs 'shader-f16'."""
    if kv_cache == "f16" and "shader-f16" not in device.features:
        name = device.info.get("device") or device.info.get("description") or "this adapter"
        raise RustyError(f"--kv-cache f16 needs the adapter's shader-f16 feature, which {name} lacks; use --kv-cache f32 or q8_0")


class Model:
    """A loaded model and its backend, with one KV cache kept across calls (``rusty_ir.load``).

    Calls are serialized (a lock): one generation at a time, as the backend runs batch 1.
    """

    def __init__(self, model: Any, backend: Any, context_length: int, compile_report: dict[str, Any] | None = None,
                 progress: Progress | None = None, speculator: Speculator | None = None) -> None:  # fmt: skip
        self.model = model
        """The imported checkpoint (``rusty_ir.importers.LoadedModel``)."""
        self.tokenizer = model.tokenizer
        self.config = model.config
        self.backend = backend
        self.context_length = context_length
        self.compile_report = compile_report
        """The wgpu backend's compile report (cache hit, kernels, dispatches per token); None for reference."""
        from rusty_ir.generate import Session  # numpy only when a model is loaded

        self.session = Session(backend, model.tokenizer, progress)
        self.speculator = speculator
        """Speculative decoding as loaded (``load(speculate=...)``), used by every greedy call unless it says
        ``speculate=False``; None when off."""
        self._lock = threading.Lock()

    def encode(self, prompt: str | Sequence[int] | Sequence[Mapping[str, Any]]) -> list[int]:
        """Token ids of a prompt: text as is, ids as given, or a list of chat messages through the chat template."""
        if isinstance(prompt, str):
            return self.tokenizer.encode(prompt)
        items = list(prompt)
        if items and all(isinstance(m, Mapping) for m in items):
            if not self.tokenizer.chat_template:
                raise RustyError(f"{self.model.source}: chat needs a chat template, and this model has none")
            return self.tokenizer.encode_chat(items)
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in items):
            raise RustyError("a prompt is text, a list of token ids or a list of chat messages ({'role': ..., 'content': ...})")
        return [int(cast(int, t)) for t in items]

    def generate(self, prompt: str | Sequence[int], **options: Any) -> GenerationResult:
        """Continue ``prompt`` (text as is, no chat template; or token ids). Options: ``max_tokens``
        (default 64), ``stop`` (strings), ``ignore_eos``, and the sampling options."""
        pieces = self.stream(prompt, **options)
        return _drain(pieces)

    def chat(self, messages: str | Sequence[Mapping[str, Any]], **options: Any) -> GenerationResult:
        """The assistant's answer to ``messages`` (``[{"role": "user", "content": ...}, ...]``, or one user
        message as a string), through the model's chat template; options as ``generate``."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        return _drain(self.stream(list(messages), **options))

    def stream(self, prompt: str | Sequence[int] | Sequence[Mapping[str, Any]], *, max_tokens: int = DEFAULT_MAX_TOKENS,
               stop: str | Sequence[str] = (), ignore_eos: bool = False, cancel: Callable[[], bool] | None = None,
               speculate: bool = True, draft_tokens: int | None = None, **sampling: Any) -> Generator[str, None, GenerationResult]:  # fmt: skip
        """The text as it is generated, piece by piece; a list of chat messages goes through the chat
        template. ``cancel()`` is asked after each token (True stops). The generator's return value
        (``StopIteration.value``) is the ``GenerationResult``. A model loaded with ``speculate=...`` decodes
        speculatively (greedy: the same tokens; sampled: the same distribution, by rejection sampling) unless
        ``speculate=False``; ``draft_tokens`` changes K for this call."""
        params = sampling_params(sampling)
        ids = self.encode(prompt)
        stops = [stop] if isinstance(stop, str) else list(stop)
        speculator = self.speculator if speculate else None
        if speculator is not None and draft_tokens is not None:
            speculator = speculator.with_draft_tokens(draft_tokens)
        elif draft_tokens is not None:
            raise RustyError("draft_tokens applies to speculative decoding: load the model with speculate='lookup' or 'draft'")
        with self._lock:
            return (yield from self.session.stream(ids, max_tokens, sampling=params, stop=stops, stop_at_eos=not ignore_eos,
                                                   special_tokens=False, cancel=cancel, speculative=speculator))  # fmt: skip

    def reset(self) -> None:
        """Forget the KV cache (the next prompt is prefilled whole)."""
        with self._lock:
            self.session.reset()


def _strings(value: str | Sequence[str]) -> tuple[str, ...]:
    """One string or a sequence of them, as a tuple (``insert_after="gpu=my-pass"`` is one insertion)."""
    return (value,) if isinstance(value, str) else tuple(value)


def _drain(pieces: Iterator[str]) -> GenerationResult:
    while True:
        try:
            next(pieces)
        except StopIteration as done:
            return done.value


def load(
    model: str | Path | None = None,
    *,
    backend: str = "wgpu",
    context_length: int | None = None,
    compiled: str | Path | None = None,
    resident_layers: int | None = None,
    tune: bool = False,
    quantize: str = "",
    kv_cache: str = "f32",
    kv_block_size: int = DEFAULT_KV_BLOCK_SIZE,
    pass_pipeline: str = "",
    insert_after: str | Sequence[str] = (),
    insert_before: str | Sequence[str] = (),
    speculate: str | None = None,
    draft: str | Path | None = None,
    draft_tokens: int = DEFAULT_DRAFT_TOKENS,
    kv_device_budget: int | str | None = None,
    progress: bool = False,
) -> Model:
    """Load ``model`` (a .gguf file or a Hugging Face folder; default the bundled SmolLM2-135M-Instruct)
    and make it ready to generate, with ``rusty run``'s options and defaults: ``backend`` (``wgpu`` or
    ``reference``), ``context_length`` (the model's, at most 8192), ``compiled`` (a ``rusty compile -o``
    folder), ``resident_layers``, ``tune``, ``quantize``, ``kv_cache``, ``kv_block_size``, the pipeline
    (``pass_pipeline``, or passes inserted at stages: ``insert_after=["gpu=my-pass{x=1}"]``, ``insert_before``;
    installed plugins' passes may be named, docs/plugins.md), and speculative
    decoding: ``speculate`` (``"lookup"``, or ``"draft"`` with a ``draft`` checkpoint of the same tokenizer; a
    ``draft`` alone means ``"draft"``) with ``draft_tokens`` per step, and ``kv_device_budget`` (bytes, or text
    such as ``"2G"``): past it the KV cache's oldest blocks live in host memory. ``progress`` prints what it does on
    stderr (bars on a terminal). Errors are ``rusty_ir.RustyError``."""
    options = LoadOptions(
        backend=backend, context_length=context_length, compiled=None if compiled is None else str(compiled),
        resident_layers=resident_layers,
        compile={"tune": tune, "quantize": quantize, "kv_cache": kv_cache, "kv_block_size": kv_block_size,
                 "pass_pipeline": pass_pipeline, "insert_after": _strings(insert_after), "insert_before": _strings(insert_before)},
        speculate=speculate or ("draft" if draft is not None else None), draft=None if draft is None else str(draft),
        draft_tokens=draft_tokens, kv_device_budget=kv_device_budget,
    )  # fmt: skip
    return open_model(model, options, Progress(quiet=not progress))


__all__ = [
    "BACKENDS",
    "DEFAULT_MAX_TOKENS",
    "LoadOptions",
    "Model",
    "SamplingParams",
    "build_backend",
    "build_speculator",
    "context_length_for",
    "load",
    "load_checkpoint",
    "open_model",
    "parse_bytes",
    "resolve_model_path",
]
