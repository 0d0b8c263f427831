"""``LoadedModel``: what every importer returns (its own module, so that the importers and the
package's ``load_model``, which picks one, do not import each other)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rusty_ir.errors import RustyError
from rusty_ir.weights import WeightStore

from .config import ModelConfig
from .tokenizer import Tokenizer


@dataclass
class LoadedModel:
    """An imported checkpoint: config, weights (memory-mapped views), tokenizer."""

    config: ModelConfig
    weights: WeightStore
    tokenizer: Tokenizer
    chat_template: str | None
    source: Path
    format: str = ""
    """"gguf" or "safetensors"."""
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)
    """The raw GGUF key/values or the config.json contents."""

    def __post_init__(self) -> None:
        # every id the tokenizer can produce must select a row of the embedding (a larger id reads past it)
        if self.tokenizer.vocab_size > self.config.vocab:
            raise RustyError(
                f"{self.source}: the tokenizer has {self.tokenizer.vocab_size} tokens, but the model's embedding "
                f"has only {self.config.vocab} rows"
            )


__all__ = ["LoadedModel"]
