#!/usr/bin/env bash
# Runs a cross-built gateway under qemu-user and checks that it starts and answers /healthz
# and /readyz on loopback. Needs Debian's qemu-user-static.
#
#   cross/qemu-smoke.sh BINARY [QEMU]     (QEMU defaults to qemu-aarch64-static)
set -euo pipefail
bin=${1:?usage: cross/qemu-smoke.sh BINARY [QEMU]}
qemu=${2:-qemu-aarch64-static}
command -v "$qemu" >/dev/null || { echo "$qemu missing: apt-get install qemu-user-static" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
printf '[gateway]\nport = 0\n' > "$work/hearth.toml"
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
kill -TERM $pid
wait $pid
