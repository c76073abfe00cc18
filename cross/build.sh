#!/usr/bin/env bash
# Builds a fully static Hearth binary for one target with cargo-zigbuild (zig cc compiles the
# C in the tree: LMDB, ring), so no Debian cross toolchain is needed.
#
#   cross/build.sh TARGET [PROFILE] [--qemu]
#
# TARGET   e.g. aarch64-unknown-linux-musl, x86_64-unknown-linux-musl
# PROFILE  release (default; size-optimised, fat LTO, 5-13 min) or ci-cross (no LTO, fast)
# --qemu   build LMDB without robust mutexes (-DMDB_USE_ROBUST=0): musl's robust-mutex setup
#          calls a syscall qemu-user does not implement, so LMDB fails to open there with
#          "Function not implemented (os error 38)". Real hardware does not need this; never
#          ship a --qemu build.
#
# Prints the path of the stripped binary and its size in bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: cross/build.sh TARGET [PROFILE] [--qemu]}
profile=${2:-release}
qemu=${3:-}

command -v cargo-zigbuild >/dev/null || { echo "cargo-zigbuild missing: pip install ziglang cargo-zigbuild" >&2; exit 1; }
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

if [ "$qemu" = "--qemu" ]; then
  var="CFLAGS_${target//-/_}"
  export "$var=-DMDB_USE_ROBUST=0"
  export CARGO_TARGET_DIR=target/qemu
fi
cargo zigbuild --locked --profile "$profile" --target "$target" >&2
dir=${CARGO_TARGET_DIR:-target}/$target/$profile
bin=$dir/hearth
[ "$profile" = release ] || strip_tool=$(command -v llvm-strip || true)
if [ -n "${strip_tool:-}" ]; then "$strip_tool" "$bin"; fi
if file "$bin" | grep -q "dynamically linked"; then
  echo "error: $bin is dynamically linked" >&2; exit 1
fi
echo "$bin $(stat -c %s "$bin")"
