"""The compile driver: transformer-level IR to WGSL or MSL kernels + host schedule, with an on-disk cache.

``compile_module`` runs the named stages of ``rusty_ir.pipeline.DEFAULT_STAGES``
(the same passes as ``rusty-opt -p rusty-default``) and returns an
``Artifact``: the kernel source (WGSL, or MSL with ``language="msl"``), the
schedule (JSON) and a manifest.
``compile_model`` adds the cache: an artifact is stored under a key made of the
model's content (its config and tensor table, ``model_fingerprint``), the
pipeline, the options, the compiler's own sources and the adapter, so a second
run skips the compiler. Entries are written whole and checksummed; one that is
incomplete or edited is compiled again (with a warning), never served.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xdsl.dialects.builtin import ModuleOp

import rusty_ir
from rusty_ir.errors import RustyError
from rusty_ir.outputs import replace_folder, write_folder
from rusty_ir.pipeline import pipeline_items, spec_pass_name
from rusty_ir.stages import DEFAULT_KV_BLOCK_SIZE, KV_CACHE_TYPES
from rusty_ir.weights import TensorView

KERNELS_FILE = "kernels.wgsl"
KERNEL_FILES = {"wgsl": KERNELS_FILE, "msl": "kernels.metal"}
"""The kernel file of each language in a compiled folder."""
SCHEDULE_FILE = "schedule.json"
MANIFEST_FILE = "manifest.json"
ARTIFACT_FILES = frozenset({*KERNEL_FILES.values(), SCHEDULE_FILE, MANIFEST_FILE})
"""Every file a compiled folder may hold: what ``Artifact.save`` replaces in a folder it wrote before."""
CHECKSUM_FILE = "SHA256SUMS"
"""A compile-cache entry's checksums of its other files (``sha256sum`` format)."""
QUANTIZED_STAGE = "quantized"
"""The stage ``CompileOptions.quantize`` adds before the default ones."""


TUNING_CACHE = "TUNING_CACHE"
"""Stands for this adapter's tuning cache file in the pipeline text of a tuned compile (``tune-workgroups{configs=...}``)."""


@dataclass(frozen=True)
class CompileOptions:
    """Everything that changes the compiler's output; hashed into the cache key."""

    target: str = "webgpu"
    """Tuning target description (webgpu, apple, nvidia): the limits kernels must respect."""

    logits_entry: bool = False
    """Also compile ``@prefill_logits`` (the last row's logits), for checking numerics."""

    sampling_entries: bool = False
    """Also compile ``@prefill_sample`` and ``@decode_sample`` (``tfm.sample`` on the GPU under packed
    options, ``rusty_ir.sampling``): needed for anything but greedy decoding."""

    verify_entry: bool = False
    """Also compile ``@verify`` (the greedy next token after every row of a step): speculative decoding's
    verification (``rusty_ir.speculative``)."""

    language: str = "wgsl"
    """Kernel language: ``wgsl`` (WebGPU, any target) or ``msl`` (Metal; only with the ``apple`` target,
    whose limits the MSL emitter also checks every kernel against)."""

    tune: bool = False
    """Choose each region's configs by timing candidates on this machine's wgpu adapter (``rusty_ir.tuning``,
    run by the driver before the stage 'tuned'; winners cached per adapter in ``tuning/`` under ``cache_dir()``,
    which ``tune-workgroups{configs=...}`` then reads) instead of taking the target's heuristic; without an
    adapter the heuristic is used. Tuned and default compiles have different cache keys (this field and the
    pipeline are part of them)."""

    tune_prefill_length: int = 512
    """With ``tune``: tokens of the prefill step each candidate is timed on, and KV positions of the timed
    decode step (0 = decode only)."""

    quantize: str = ""
    """Quantize the float weight matrices at compile time to this scheme (q8_0, q4_0, int4_g32, int4_g128;
    ``quantize-weights{scheme=...}`` as a first stage 'quantized'); empty = keep the checkpoint's types.
    The runtime then needs ``Artifact.runtime_weights``, which quantizes each tensor as it is uploaded."""

    kv_cache: str = "f32"
    """What the KV cache holds: ``f32``, or ``f16`` (half the memory; the adapter needs 'shader-f16')
    (``convert-transformer-to-tensor`` option ``kv-cache-type``)."""

    kv_block_size: int = DEFAULT_KV_BLOCK_SIZE
    """Positions per block of the paged KV cache; 0 = not paged, every layer's K and V sized for the whole
    context at load (``convert-transformer-to-tensor`` option ``kv-block-size``)."""

    pass_pipeline: str = ""
    """A whole pipeline instead of the default stages (``--pass-pipeline``), in MLIR's syntax
    (``builtin.module(a,b{x=1})``) or xDSL's (``a,b{x=1}``); ``rusty-default`` in it stands for the default
    stages with these options. It must end at the gpu level. Each pass is a stage named after the pass; the
    default stages keep their names. Plugins' passes (``rusty_ir.plugins`` entry points) may be named."""

    insert_after: tuple[str, ...] = ()
    """Passes to run after a stage, each ``STAGE=PASS{options}[,PASS...]`` (``--insert-after``); each inserted
    pass is a stage named after it (``name#2`` for a second one of the same name)."""

    insert_before: tuple[str, ...] = ()
    """Passes to run before a stage, as ``insert_after`` (``--insert-before``)."""

    def __post_init__(self) -> None:
        from rusty_ir.targets import TARGETS
        from rusty_ir.weights import QUANTIZE_TARGETS

        if self.target not in TARGETS:
            raise RustyError(f"unknown target '{self.target}' (known: {', '.join(TARGETS)})")
        if self.tune_prefill_length < 0:
            raise RustyError(f"the tuning prefill length must not be negative, got {self.tune_prefill_length}")
        if self.quantize and self.quantize not in QUANTIZE_TARGETS:
            raise RustyError(f"unknown quantization scheme '{self.quantize}' (known: {', '.join(QUANTIZE_TARGETS)})")
        if self.kv_cache not in KV_CACHE_TYPES:
            raise RustyError(f"unknown KV cache type '{self.kv_cache}' (known: {', '.join(KV_CACHE_TYPES)})")
        if self.kv_block_size < 0:
            raise RustyError(f"the KV block size must be 0 (not paged) or positive, got {self.kv_block_size}")
        if self.language not in KERNEL_FILES:
            raise RustyError(f"unknown kernel language '{self.language}' (known: {', '.join(KERNEL_FILES)})")
        if self.language == "msl" and self.target != "apple":
            raise RustyError(
                f"MSL kernels run on Apple GPUs and are tuned for the 'apple' target, not '{self.target}' (rusty compile --target msl)"
            )
        for name in ("insert_after", "insert_before"):  # lists (the API, JSON) count as the tuples they are
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise RustyError(f"{name} must be a list of 'STAGE=PASS{{options}}' strings, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        _ = self.stages  # every pipeline mistake that needs no pass registry: now, before any work

    @classmethod
    def for_target(cls, name: str, **kwargs: Any) -> CompileOptions:
        """Options for a ``rusty compile --target`` name: a tuning target (WGSL), or ``msl`` (MSL tuned for apple)."""
        from rusty_ir.targets import TARGETS

        if name == "msl":
            return cls(target="apple", language="msl", **kwargs)
        if name not in TARGETS:
            raise RustyError(f"unknown target '{name}' (known: {', '.join(TARGETS)}, msl)")
        return cls(target=name, **kwargs)

    @property
    def stages(self) -> tuple[tuple[str, str], ...]:
        """The stages to run, as (name, pass spec) pairs: ``DEFAULT_STAGES`` with these options (``stage_spec``),
        or the passes of ``pass_pipeline``; after a first stage 'quantized' (``quantize-weights``) when
        ``quantize`` is set; with the passes of ``insert_after``/``insert_before`` where they say."""
        from rusty_ir.stages import DEFAULT_STAGES

        first = ((QUANTIZED_STAGE, f"quantize-weights{{scheme={self.quantize}}}"),) if self.quantize else ()
        defaults = tuple((name, self.stage_spec(spec)) for name, spec in DEFAULT_STAGES)
        stages = list(first + (self._custom_stages(defaults) if self.pass_pipeline.strip() else defaults))
        names = {name for name, _ in stages}
        for flag, after in (("--insert-before", False), ("--insert-after", True)):
            for item in self.insert_after if after else self.insert_before:
                stage, eq, text = item.partition("=")
                stage = stage.strip()
                where = [i for i, (name, _) in enumerate(stages) if name == stage]
                if not eq or not text.strip():
                    raise RustyError(f"{flag} '{item}': give STAGE=PASS{{options}} (stages: {', '.join(n for n, _ in stages)})")
                if not where:
                    raise RustyError(f"{flag} '{item}': unknown stage '{stage}' (stages: {', '.join(n for n, _ in stages)})")
                inserted = [(_unique(spec_pass_name(s), names), s) for s in _items(text, flag)]
                at = where[0] + after
                stages[at:at] = inserted
        return tuple(stages)

    def _custom_stages(self, defaults: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """The stages of ``pass_pipeline``: ``rusty-default`` becomes ``defaults``; a pass that is one of the
        default stages' (same spec) keeps that stage's name, any other pass is a stage named after it."""
        default_name = {spec: name for name, spec in defaults}
        stages: list[tuple[str, str]] = []
        names: set[str] = set()
        for spec in _items(self.pass_pipeline, "--pass-pipeline"):
            if spec_pass_name(spec) == "rusty-default":
                if spec != "rusty-default":
                    raise RustyError(f"--pass-pipeline: '{spec}': in a compile, rusty-default takes no options (give --target)")
                parts = list(defaults)
            else:
                parts = [(default_name.get(spec) or spec_pass_name(spec), spec)]
            for name, s in parts:
                stages.append((_unique(name, names), s))
        return tuple(stages)

    @property
    def pipeline(self) -> str:
        """The whole pipeline, in xDSL's syntax: what the compile runs (part of the cache key)."""
        return ",".join(spec for _, spec in self.stages)

    def stage_spec(self, spec: str) -> str:
        """A stage's pass spec from ``DEFAULT_STAGES`` with these options: the target, the KV cache's layout
        where it is not the default, and measured tuning with ``tune``."""
        spec = spec.replace("TARGET", self.target)
        if spec == "convert-transformer-to-tensor" and (self.kv_cache, self.kv_block_size) != ("f32", DEFAULT_KV_BLOCK_SIZE):
            spec += f"{{kv-cache-type={self.kv_cache} kv-block-size={self.kv_block_size}}}"
        if self.tune and spec == "tune-workgroups":
            spec = f'tune-workgroups{{configs="{TUNING_CACHE}"}}'  # the adapter's cache file, known when compiling
        return spec


def _items(text: str, flag: str) -> list[str]:
    """The top-level pass specs of a pipeline given in MLIR's or xDSL's syntax, an op-anchored group
    (``func.func(cse)``) kept whole, to run nested (``rusty_ir.pipeline.pipeline_items``)."""
    items = pipeline_items(text)
    if not items:
        raise RustyError(f"{flag}: the pipeline '{text}' has no passes")
    return items


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name#2``, ``name#3``, ... when taken; the result is added to ``taken``."""
    unique, n = name, 1
    while unique in taken:
        n += 1
        unique = f"{name}#{n}"
    taken.add(unique)
    return unique


@dataclass
class Artifact:
    """A compiled model: kernels, schedule and what produced them."""

    kernels: str
    """The kernel source, in ``language``."""
    schedule: str
    manifest: dict[str, Any] = field(default_factory=dict)
    language: str = "wgsl"
    """``wgsl`` or ``msl`` (``CompileOptions.language``)."""

    @property
    def wgsl(self) -> str:
        """The WGSL source (what the wgpu runtime takes); an error for an MSL artifact."""
        if self.language != "wgsl":
            raise RustyError(f"this compiled model has {self.language.upper()} kernels; the wgpu runtime needs WGSL")
        return self.kernels

    def runtime_weights(self, weights: Mapping[str, TensorView]) -> Mapping[str, TensorView]:
        """The weights these kernels expect: ``weights`` itself, or, when compiled with ``quantize``, a
        ``QuantizingStore`` that quantizes each tensor the manifest lists as the runtime reads it."""
        return quantized_weights(self.manifest.get("quantized_weights") or {}, weights)

    @property
    def kernels_file(self) -> str:
        """The file name of the kernels in a saved folder (kernels.wgsl or kernels.metal)."""
        return KERNEL_FILES[self.language]

    def files(self) -> dict[str, str]:
        """The files of a compiled folder: kernels, schedule and manifest, by name."""
        manifest = json.dumps(self.manifest, indent=2, sort_keys=True) + "\n"
        return {self.kernels_file: self.kernels, SCHEDULE_FILE: self.schedule, MANIFEST_FILE: manifest}

    def save(self, folder: Path) -> None:
        """Write the files into ``folder``: a new or empty folder, or an earlier compiled folder whose files are
        replaced (each written beside and renamed into place); a folder holding anything else is refused
        (``rusty_ir.outputs.write_folder``)."""
        write_folder(folder, self.files(), ARTIFACT_FILES)

    @classmethod
    def load(cls, folder: Path) -> Artifact:
        """The artifact in a compiled folder; RustyError naming what is missing or malformed."""
        try:
            manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
            options = manifest.get("options") if isinstance(manifest, dict) else None
            language = options.get("language", "wgsl") if isinstance(options, dict) else None
            if language not in KERNEL_FILES:
                raise ValueError(f"{MANIFEST_FILE} has no valid 'options' (a kernel language: {', '.join(KERNEL_FILES)})")
            quantized = manifest.get("quantized_weights") or {}
            if not isinstance(quantized, dict) or not all(isinstance(v, str) for v in quantized.values()):
                raise ValueError(f"{MANIFEST_FILE}: 'quantized_weights' must map weight names to schemes")
            return cls(
                (folder / KERNEL_FILES[language]).read_text(encoding="utf-8"),
                (folder / SCHEDULE_FILE).read_text(encoding="utf-8"),
                manifest,
                language,
            )
        except (OSError, ValueError) as err:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise RustyError(f"'{folder}' is not a compiled rusty-ir model: {err}") from None


def compile_module(
    module: ModuleOp,
    options: CompileOptions = CompileOptions(),
    on_stage: Callable[[str, ModuleOp, float], None] | None = None,
    registry: Any = None,
) -> Artifact:
    """Lower a transformer-level module through every stage; ``on_stage(name, ir, seconds)`` sees each.
    ``registry``: the passes, as ``check_pipeline`` returned them (default: checked here).

    The module is verified after each stage of a plugin's or a custom pipeline's pass, and once at the end: the
    default stages' passes, rusty-ir's own, are verified pass by pass in rusty-opt's lit tests and level by level
    in the interop tests, and verifying the whole module after each of them was two thirds of a compile (SmolLM2:
    about 100 of 148 s under a profiler). The checks between passes (``require_rusty_subset``,
    ``require_legal_casts``) still run after every pass."""
    from rusty_ir.backends.schedule import emit_schedule
    from rusty_ir.ir import verify
    from rusty_ir.passes.quant.quantize_weights import quantization_templates
    from rusty_ir.pipeline import build_pipeline, require_gpu_level
    from rusty_ir.stages import DEFAULT_STAGES

    registry = registry or check_pipeline(options)
    ctx = registry.context()
    timings: dict[str, float] = {}
    quantized: dict[str, str] = {}
    own = {name for name, _ in DEFAULT_STAGES} | {QUANTIZED_STAGE}
    stage = ""
    for stage, spec in options.stages:
        start = time.perf_counter()
        if TUNING_CACHE in spec:  # measure first (rusty_ir.tuning), then the pass reads the winners
            from rusty_ir.tuning import tune_for_compile

            tuned = tune_for_compile(module, options.tune_prefill_length, cache_dir())
            spec = spec.replace(TUNING_CACHE, json.dumps(str(tuned))[1:-1]) if tuned is not None else "tune-workgroups"
        build_pipeline(registry, spec).apply(ctx, module)
        if stage not in own:  # a plugin's or a custom pipeline's pass: a mistake is named at once
            verify(module, stage=f"stage '{stage}'")
        timings[stage] = time.perf_counter() - start
        if stage == QUANTIZED_STAGE:
            quantized = quantization_templates(module)  # later stages drop the tfm ops and the attribute
        if on_stage is not None:
            on_stage(stage, module, timings[stage])
    start = time.perf_counter()
    verify(module, stage=f"the compiled module (after stage '{stage}'; rusty-ir's own stages are verified together, here)")
    timings["verify"] = time.perf_counter() - start
    if options.pass_pipeline or options.insert_after or options.insert_before:
        try:
            require_gpu_level(module)
        except RustyError as err:
            raise RustyError(f"the pipeline '{options.pipeline}' does not end at the gpu level: {err}", err.op) from None
    start = time.perf_counter()
    if options.language == "msl":
        from rusty_ir.backends.msl import emit_program as emit_msl_program
        from rusty_ir.targets import TARGETS

        program = emit_msl_program(module, TARGETS[options.target])  # also checks the target's limits
    else:
        from rusty_ir.backends.wgsl import emit_program

        program = emit_program(module)
    schedule = emit_schedule(module)
    timings["emit"] = time.perf_counter() - start
    manifest = {
        "rusty_ir": rusty_ir.__version__,
        "options": asdict(options),
        "pipeline": options.pipeline,
        "plugins": [{k: p[k] for k in ("name", "distribution", "version")} for p in installed_plugins()],
        "kernels": len(program.kernels),
        "stage_seconds": {k: round(v, 3) for k, v in timings.items()},
        "quantized_weights": quantized,
    }
    return Artifact(program.source, schedule, manifest, options.language)


def check_pipeline(options: CompileOptions) -> Any:
    """The pass registry (``rusty_ir.registry.Registry``: rusty-ir's, upstream's and the installed plugins'
    passes; a plugin that fails to load is skipped with a warning on stderr) after checking that every stage's
    passes and options exist in it: a RustyError naming the first that does not (and any plugin that failed to
    load, which might have given it), before any stage runs."""
    from rusty_ir.pipeline import build_pipeline
    from rusty_ir.registry import build_registry

    registry = build_registry()
    for stage, spec in options.stages:
        try:
            build_pipeline(registry, spec)
        except RustyError as err:
            raise RustyError(f"stage '{stage}': {err}") from None
    return registry


def installed_plugins() -> list[dict[str, str]]:
    """The plugins installed under the ``rusty_ir.plugins`` entry-point group, found without importing them (a
    cache hit must not load xDSL): name, module, distribution, version, and a hash of the module's sources
    (an editable install keeps its version while its code changes). Sorted by name."""
    from importlib.metadata import entry_points

    from rusty_ir.registry import PLUGIN_GROUP

    out: list[dict[str, str]] = []
    for ep in entry_points(group=PLUGIN_GROUP):
        dist = ep.dist
        out.append({"name": ep.name, "module": ep.value, "distribution": dist.name if dist else "",
                    "version": dist.version if dist else "", "sources": _module_sources_hash(ep.value)})  # fmt: skip
    return sorted(out, key=lambda p: (p["name"], p["module"]))


def _module_sources_hash(value: str) -> str:
    """A hash of the Python files of an entry point's top-level package or module ('' if it cannot be found)."""
    top = value.split(":", 1)[0].split(".", 1)[0].strip()
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: found, not imported
    except (ImportError, ValueError):
        return ""
    if spec is None:
        return ""
    if spec.submodule_search_locations:
        files = sorted(f for root in spec.submodule_search_locations for f in Path(root).rglob("*.py"))
    elif spec.origin and spec.origin not in ("built-in", "frozen"):
        files = [Path(spec.origin)]
    else:
        return ""
    digest = hashlib.sha256()
    for file in files:
        try:
            digest.update(file.read_bytes())
        except OSError:
            continue
    return digest.hexdigest()[:16]


_FINGERPRINT: str | None = None


def compiler_fingerprint() -> str:
    """A hash of the compiler's own sources: a changed pass invalidates cached kernels."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        digest = hashlib.sha256()
        roots = [Path(rusty_ir.__file__).parent]
        for name in ("dialects", "passes", "backends"):  # found, not imported: a cache hit must not load xDSL
            spec = importlib.util.find_spec(f"rusty_ir.{name}")
            assert spec is not None and spec.submodule_search_locations
            roots.append(Path(next(iter(spec.submodule_search_locations))))
        for root in roots:
            for file in sorted(root.rglob("*.py")):
                digest.update(file.read_bytes())
        _FINGERPRINT = digest.hexdigest()[:16]
    return _FINGERPRINT


def cache_dir() -> Path:
    """Where compiled models are kept: $RUSTY_CACHE_DIR, else ~/.cache/rusty-ir."""
    env = os.environ.get("RUSTY_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "rusty-ir"


def model_fingerprint(model: Any) -> str:
    """A hash of everything of a loaded model that the compiler reads: its ``ModelConfig`` (epsilon and RoPE
    theta are baked into the kernels) and its tensor table (name, shape, storage scheme of every weight).
    Weight values are not compiled in (the runtime reads them from the checkpoint), so they are not hashed:
    an edited file gets a new key when anything the kernels depend on changes, whatever its path or mtime."""
    table = sorted((name, list(view.shape), view.scheme.name) for name, view in model.weights.items())
    text = json.dumps([model.config.to_dict(), table], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def cache_key(model: Any, options: CompileOptions, adapter: str) -> str:
    """The model's content (``model_fingerprint``), options, pipeline, compiler sources, the installed plugins
    (``installed_plugins``: names, versions and sources) and adapter."""
    plugins = json.dumps(installed_plugins(), sort_keys=True)
    parts = [
        model_fingerprint(model),
        json.dumps(asdict(options), sort_keys=True),
        options.pipeline,
        compiler_fingerprint(),
        plugins,
        adapter,
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _sha256(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def save_cache_entry(folder: Path, artifact: Artifact) -> None:
    """Store ``artifact`` as the cache entry ``folder`` with ``CHECKSUM_FILE`` (``sha256sum`` lines) over its
    files, written whole and renamed into place (``rusty_ir.outputs.replace_folder``). Raises OSError."""
    files = artifact.files()
    sums = "".join(f"{_sha256(data)}  {name}\n" for name, data in sorted(files.items()))
    replace_folder(folder, {**files, CHECKSUM_FILE: sums})


def load_cache_entry(folder: Path) -> Artifact:
    """The artifact of the cache entry ``folder``, after checking its files against ``CHECKSUM_FILE``;
    RustyError saying what is wrong with an entry that is incomplete, edited or corrupt."""
    try:
        lines = (folder / CHECKSUM_FILE).read_text(encoding="utf-8").splitlines()
        recorded = {name: digest for digest, _, name in (line.partition("  ") for line in lines)}
        if not set(recorded) <= ARTIFACT_FILES:
            raise RustyError(f"{CHECKSUM_FILE} lists files a compiled model does not have")
        for name, digest in recorded.items():
            if _sha256((folder / name).read_bytes()) != digest:
                raise RustyError(f"{name} does not match its checksum in {CHECKSUM_FILE} (edited or corrupt)")
    except (OSError, ValueError) as err:
        raise RustyError(f"cannot check it against {CHECKSUM_FILE}: {err}") from None
    artifact = Artifact.load(folder)
    if set(recorded) != set(artifact.files()):
        raise RustyError(f"{CHECKSUM_FILE} does not cover {', '.join(sorted(set(artifact.files()) - set(recorded)))}")
    return artifact


@dataclass
class CompileResult:
    artifact: Artifact
    cache_hit: bool
    seconds: float
    """Compile time (or cache load time on a hit)."""
    folder: Path | None


def quantized_weights(templates: Mapping[str, str], weights: Mapping[str, TensorView], *, keep: bool = False) -> Mapping[str, TensorView]:
    """``weights`` as the quantize-weights pass retyped them: ``{name or blk.{} template: scheme}`` quantized on read
    (``keep``: each tensor once, kept; for the reference interpreter, which reads weights at every step)."""
    if not templates:
        return weights
    from rusty_ir.weights import QuantizingStore, plan_from_templates

    try:
        return QuantizingStore(weights, plan_from_templates(templates, weights), keep=keep)
    except ValueError as err:
        raise RustyError(str(err)) from None


def quantize_module(module: ModuleOp, scheme: str) -> dict[str, str]:
    """Run ``quantize-weights{scheme=...}`` on a transformer-level module (for the reference interpreter);
    returns what it recorded, for ``quantized_weights``."""
    from rusty_ir.passes.quant.quantize_weights import quantization_templates
    from rusty_ir.pipeline import build_pipeline
    from rusty_ir.registry import build_registry

    CompileOptions(quantize=scheme)  # validates the name
    registry = build_registry()
    build_pipeline(registry, f"quantize-weights{{scheme={scheme}}}").apply(registry.context(), module)
    return quantization_templates(module)


def compile_model(
    model: Any,
    options: CompileOptions = CompileOptions(),
    adapter: str = "",
    use_cache: bool = True,
    progress: Callable[[str], None] | None = None,
) -> CompileResult:
    """Compile a loaded model (``rusty_ir.importers.LoadedModel``), through the cache."""
    start = time.perf_counter()
    folder = cache_dir() / cache_key(model, options, adapter) if use_cache else None
    if folder is not None and folder.exists():
        try:
            return CompileResult(load_cache_entry(folder), True, time.perf_counter() - start, folder)
        except RustyError as err:  # never served: compiled again and replaced below
            if progress is not None:
                progress(f"warning: the compile cache entry {folder} is unusable ({err}); compiling again")
    from rusty_ir.importers.to_ir import build_module

    module = build_module(model.config, model.weights, logits_entry=options.logits_entry, sampling_entries=options.sampling_entries,
                          verify_entry=options.verify_entry)  # fmt: skip

    def on_stage(stage: str, _ir: ModuleOp, seconds: float) -> None:
        if progress is not None:
            progress(f"{stage} ({seconds:.2f} s)")

    artifact = compile_module(module, options, on_stage)
    artifact.manifest.update({"model": str(model.source), "adapter": adapter})
    if folder is not None:
        try:
            save_cache_entry(folder, artifact)
        except OSError as err:  # a read-only cache is no reason to fail the run
            if progress is not None:
                progress(f"could not write the compile cache at {folder}: {err}")
            folder = None
    return CompileResult(artifact, False, time.perf_counter() - start, folder)
