#!/usr/bin/env bash
# Runs a cross-built gateway under qemu-user and checks that it starts and answers /healthz
# and /readyz on loopback. With $HEARTH_TEST_MODELS set (a dir holding all-minilm-l6-v2/ and
# smollm2-135m-instruct/) it also indexes a memory note on the emulated CPU and runs a hybrid
# `hearth memory search` (the embedder and the BM25 index) through the gateway, and then a
# chat turn on the local model (`hearth agent -m …`). It always signs an update manifest of
# the binary itself (ring's SHA-256 and Ed25519 on the emulated CPU). Needs Debian's
# qemu-user-static.
#
#   cross/qemu-smoke.sh BINARY [QEMU] [--cpu CPU] [--no-chat] [--no-memory]
#
# QEMU       qemu-aarch64-static (default), qemu-arm-static, qemu-riscv64-static, …
# --cpu CPU  the emulated CPU, e.g. arm1176 (Pi Zero / Pi 1) for the arm v6 build: any ARMv7 or
#            NEON instruction on a path the smoke test runs then traps (SIGILL). The hearth
#            client commands run on the same emulated CPU.
# --no-chat, --no-memory   skip the chat turn / the memory search (they need the models).
#
# Prints indicative figures: start-to-/readyz ms, the qemu process's idle VmRSS, memory
# search and chat turn ms. The binary must be a --qemu build (cross/build.sh): LMDB's robust
# mutexes need a syscall qemu-user lacks.
set -euo pipefail
usage="usage: cross/qemu-smoke.sh BINARY [QEMU] [--cpu CPU] [--no-chat] [--no-memory]"
bin='' qemu='' cpu='' chat=1 memory=1
while [ $# -gt 0 ]; do
  case $1 in
    --cpu) cpu=${2:?--cpu needs a CPU name}; shift ;;
    --no-chat) chat= ;;
    --no-memory) memory= ;;
    -*) echo "$usage" >&2; exit 2 ;;
    *) if [ -z "$bin" ]; then bin=$1; elif [ -z "$qemu" ]; then qemu=$1; else echo "$usage" >&2; exit 2; fi ;;
  esac
  shift
done
[ -n "$bin" ] || { echo "$usage" >&2; exit 2; }
qemu=${qemu:-qemu-aarch64-static}
command -v "$qemu" >/dev/null || { echo "$qemu missing: apt-get install qemu-user-static" >&2; exit 1; }
emu=("$qemu")
[ -n "$cpu" ] && emu+=(-cpu "$cpu")
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
hearth() { "${emu[@]}" "$bin" --config "$work/hearth.toml" --data-dir "$work/data" "$@"; }

models=${HEARTH_TEST_MODELS:-}
[ -n "$models" ] || { chat=''; memory=''; }
printf '[gateway]\nport = 0\n' > "$work/hearth.toml"
if [ -n "$models" ]; then
  # Short answers keep the emulated chat turn short; the model and the embedder load lazily.
  printf '\n[local]\nmodels_dir = "%s"\n\n[agent]\nmax_tokens = 16\n\n[memory]\nsync_interval_secs = 1\n' "$models" >> "$work/hearth.toml"
fi

start=$(date +%s%N)
HEARTH_LOG=${HEARTH_LOG:-info,hearth::provider::local=debug} \
  "${emu[@]}" "$bin" --config "$work/hearth.toml" --data-dir "$work/data" gateway > "$work/log" 2>&1 &
pid=$!  # the qemu process itself (not a subshell): its VmRSS is the emulated gateway's
alive() { kill -0 $pid 2>/dev/null || { cat "$work/log"; echo "gateway exited under qemu" >&2; exit 1; }; }
for _ in $(seq 1 600); do
  [ -f "$work/data/gateway.json" ] && break
  alive
  sleep 0.1
done
[ -f "$work/data/gateway.json" ] || { cat "$work/log"; echo "gateway did not start within 60 s" >&2; exit 1; }
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$work/data/gateway.json")
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  alive
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null
ready_ms=$(ms_since "$start")
sleep 1
rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
echo "qemu smoke ok: $(hearth --version) on ${emu[*]}: /healthz and /readyz answered on port $port after ${ready_ms} ms; idle qemu process VmRSS ${rss} kB"

# ring on the emulated CPU: an Ed25519 key pair (SHA-512) and a signed manifest of this very
# binary (SHA-256 over it). ring picks its NEON or scalar code from AT_HWCAP at run time; on
# an ARMv6 CPU a wrong pick is a SIGILL here.
t0=$(date +%s%N)
hearth update keygen --out "$work/keys" >/dev/null
hearth update sign --key "$work/keys/hearth-update.key" --release 0.0.1 \
  --binary "smoke=$bin" --out "$work/release" >/dev/null
[ -s "$work/release/manifest.json" ] || { echo "update sign under qemu wrote no manifest" >&2; exit 1; }
echo "qemu crypto ok: ring Ed25519 keygen + SHA-256/Ed25519 signature over the $(stat -c %s "$bin")-byte binary in $(ms_since "$t0") ms"

if [ -n "$memory" ]; then
  # Written after the idle figure: indexing it loads the embedder (~90 MB).
  printf '# Memory\n\nThe water shut-off valve is in the cellar, behind the blue shelf.\n' > "$work/data/workspace/MEMORY.md"
  t0=$(date +%s%N)
  ok=
  for _ in $(seq 1 300); do
    out=$(hearth memory search --json "where is the water valve" 2>&1 || true)
    if printf '%s' "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if r["mode"]=="hybrid" and r["results"] and r["results"][0]["path"]=="MEMORY.md" and r["results"][0]["vectorScore"] else 1)' 2>/dev/null; then
      ok=1
      echo "qemu memory search ok: hybrid result from MEMORY.md after $(ms_since "$t0") ms"
      break
    fi
    alive
    sleep 1
  done
  [ -n "$ok" ] || { echo "$out"; cat "$work/log"; echo "memory search under qemu failed" >&2; exit 1; }
fi

if [ -n "$chat" ]; then
  # The decoder's SIMD kernels against its portable code on the emulated CPU (`hearth doctor`),
  # and on aarch64 also on a Cortex-A53 (Pi 3, Pi Zero 2 W: NEON without the dot-product
  # extension), so both NEON paths are checked.
  cpus=(default)
  case $qemu in *aarch64*) [ -z "$cpu" ] && cpus+=(cortex-a53) ;; esac
  for c in "${cpus[@]}"; do
    run=("${emu[@]}")
    [ "$c" = default ] || run=("$qemu" -cpu "$c")
    line=$("${run[@]}" "$bin" --config "$work/hearth.toml" --data-dir "$work/data" doctor 2>&1 | grep -E '^(ok|FAIL) +decoder:' || true)
    case $line in
      ok*) echo "qemu decoder kernels ok ($c CPU): ${line#ok    decoder: }" ;;
      *) echo "${line:-no decoder line in hearth doctor}"; echo "decoder kernel self-check failed under qemu ($c CPU)" >&2; exit 1 ;;
    esac
  done
  t0=$(date +%s%N)
  if ! answer=$(timeout 900 "${emu[@]}" "$bin" --config "$work/hearth.toml" --data-dir "$work/data" \
      agent -m "What is the capital of France? Answer in one word." 2>"$work/agent.err"); then
    cat "$work/agent.err" "$work/log"; echo "chat turn under qemu failed" >&2; exit 1
  fi
  chat_ms=$(ms_since "$t0")
  [ -n "${answer//[[:space:]]/}" ] || { cat "$work/agent.err" "$work/log"; echo "chat turn gave an empty answer" >&2; exit 1; }
  rss_chat=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  # The gateway logs each local generation: prompt and completion tokens and its ms.
  gen=$(sed 's/\x1b\[[0-9;]*m//g' "$work/log" | grep 'local generation done' | tail -1 |
    grep -o 'prompt_tokens=[0-9]*\|completion_tokens=[0-9]*\|ms=[0-9]*' | tr '\n' ' ' || true)
  echo "qemu chat turn ok: local/smollm2-135m-instruct answered \"$(printf '%s' "$answer" | tr '\n' ' ' | head -c 80 | sed 's/ *$//')\" in ${chat_ms} ms end to end (generation: ${gen:-?}); qemu process VmRSS ${rss_chat} kB after it"
fi

kill -TERM $pid
wait $pid
pid=
