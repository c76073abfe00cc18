#!/usr/bin/env bash
# Runs a cross-built gateway under qemu-user and checks that it starts and answers /healthz
# and /readyz on loopback; with $HEARTH_TEST_MODELS set (a dir holding all-minilm-l6-v2/),
# it also indexes a memory note on the emulated CPU and runs a hybrid `hearth memory search`
# (the embedder and the BM25 index) through the gateway. Needs Debian's qemu-user-static.
#
#   cross/qemu-smoke.sh BINARY [QEMU]     (QEMU defaults to qemu-aarch64-static)
set -euo pipefail
bin=${1:?usage: cross/qemu-smoke.sh BINARY [QEMU]}
qemu=${2:-qemu-aarch64-static}
command -v "$qemu" >/dev/null || { echo "$qemu missing: apt-get install qemu-user-static" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
printf '[gateway]\nport = 0\n' > "$work/hearth.toml"
models=${HEARTH_TEST_MODELS:-}
if [ -n "$models" ]; then
  printf '\n[local]\nmodels_dir = "%s"\n\n[memory]\nsync_interval_secs = 1\n' "$models" >> "$work/hearth.toml"
  mkdir -p "$work/data/workspace"
  printf '# Memory\n\nThe water shut-off valve is in the cellar, behind the blue shelf.\n' > "$work/data/workspace/MEMORY.md"
fi
start=$(date +%s%N)
"$qemu" "$bin" --config "$work/hearth.toml" --data-dir "$work/data" gateway > "$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [ -f "$work/data/gateway.json" ] && break
  kill -0 $pid 2>/dev/null || { cat "$work/log"; echo "gateway exited under qemu" >&2; exit 1; }
  sleep 0.1
done
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$work/data/gateway.json")
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null
ready_ms=$(( ($(date +%s%N) - start) / 1000000 ))
rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "qemu smoke ok: $("$qemu" "$bin" --version), /healthz and /readyz answered on port $port after ${ready_ms} ms; qemu process VmRSS ${rss} kB"
if [ -n "$models" ]; then
  t0=$(date +%s%N)
  for _ in $(seq 1 300); do
    out=$("$qemu" "$bin" --config "$work/hearth.toml" --data-dir "$work/data" memory search --json "where is the water valve" 2>&1 || true)
    if printf '%s' "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if r["mode"]=="hybrid" and r["results"] and r["results"][0]["path"]=="MEMORY.md" and r["results"][0]["vectorScore"] else 1)' 2>/dev/null; then
      echo "qemu memory search ok: hybrid result from MEMORY.md after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
      break
    fi
    kill -0 $pid 2>/dev/null || { cat "$work/log"; echo "gateway exited under qemu" >&2; exit 1; }
    sleep 1
  done
  printf '%s' "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if r["results"] and r["mode"]=="hybrid" else 1)' || { echo "$out"; cat "$work/log"; echo "memory search under qemu failed" >&2; exit 1; }
fi
kill -TERM $pid
wait $pid
