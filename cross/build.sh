#!/usr/bin/env bash
# Builds a fully static Hearth binary for one target with cargo-zigbuild (zig cc compiles the
# C and assembly in the tree: LMDB, ring), so no Debian cross toolchain is needed.
#
#   cross/build.sh TARGET [PROFILE] [--qemu] [--features LIST] [--no-default-features]
#
# TARGET   aarch64-unknown-linux-musl        Pi 3/4/5, Zero 2 W (64-bit OS)   stable
#          x86_64-unknown-linux-musl         PCs, VMs                         stable
#          armv7-unknown-linux-musleabihf    Pi 2/3 (32-bit OS)               nightly -Z build-std
#          arm-unknown-linux-musleabihf      Pi Zero / Pi 1 (ARMv6, VFPv2)    nightly -Z build-std
#          riscv64gc-unknown-linux-musl      RISC-V boards                    nightly -Z build-std
#          (cross/README.md says why some targets need nightly.)
# PROFILE  release (default; size-optimised, fat LTO, 5-13 min) or ci-cross (no LTO, faster)
# --qemu   build LMDB without robust mutexes (-DMDB_USE_ROBUST=0): musl's robust-mutex setup
#          calls a syscall qemu-user does not implement, so LMDB fails to open there with
#          "Function not implemented (os error 38)". Real hardware does not need this; never
#          ship a --qemu build. It goes to a separate target dir (target/qemu/...).
# --features LIST, --no-default-features
#          passed to cargo, e.g. `--no-default-features --features embedder` for a build
#          without the on-device LLM (see Cargo.toml [features]).
#
# The arm (ARMv6) binary is linked with its symbols, copied to `hearth.unstripped` beside it
# (what cross/check-isa.sh disassembles) and then stripped. Cargo's output goes to stderr;
# stdout gets one line, "PATH SIZE": the stripped binary and its size in bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: cross/build.sh TARGET [PROFILE] [--qemu] [--features LIST] [--no-default-features]"
target=
profile=
qemu=
cargo_features=()
while [ $# -gt 0 ]; do
  case $1 in
    --qemu) qemu=1 ;;
    --no-default-features) cargo_features+=(--no-default-features) ;;
    --features) cargo_features+=(--features "${2:?--features needs a list}"); shift ;;
    --features=*) cargo_features+=("$1") ;;
    -*) echo "$usage" >&2; exit 2 ;;
    *)
      if [ -z "$target" ]; then target=$1
      elif [ -z "$profile" ]; then profile=$1
      else echo "$usage" >&2; exit 2
      fi ;;
  esac
  shift
done
[ -n "$target" ] || { echo "$usage" >&2; exit 2; }
profile=${profile:-release}

# How each target gets its standard library. rustup serves rust-std here only for the two
# 64-bit musl targets; the 32-bit ARM and RISC-V std are compiled from source on nightly.
case $target in
  aarch64-unknown-linux-musl|x86_64-unknown-linux-musl) std=rustup ;;
  arm-unknown-linux-musleabihf|armv7-unknown-linux-musleabihf|riscv64gc-unknown-linux-musl) std="build-std" ;;
  *) echo "unsupported target $target (see cross/README.md)" >&2; exit 2 ;;
esac

command -v cargo-zigbuild >/dev/null || { echo "cargo-zigbuild missing: pip install ziglang cargo-zigbuild" >&2; exit 1; }
cargo=(cargo)
if [ "$std" = rustup ]; then
  rustup target list --installed | grep -x "$target" >/dev/null || rustup target add "$target" >&2
else
  if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal --component rust-src >&2
  fi
  rustup component list --toolchain nightly --installed | grep -x rust-src >/dev/null ||
    rustup component add rust-src --toolchain nightly >&2
  cargo=(cargo +nightly)
  # rustc's self-contained linking expects crt1.o & co. from the rust-std component, which a
  # build-std target does not have ("failed to open object crt1.o"); zig links its own musl
  # crt objects instead.
  # The linker then notes the absent rustlib/TARGET/lib directory; that is expected here.
  export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C link-self-contained=no -A linker-messages"
fi

tgt=${target//-/_}
cflags=()
if [ -n "$qemu" ]; then
  cflags+=(-DMDB_USE_ROBUST=0)
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}/qemu
fi
if [ "$target" = arm-unknown-linux-musleabihf ]; then
  # Pin the C and assembly to the Pi Zero / Pi 1 CPU (ARM1176JZF-S: ARMv6KZ, VFPv2, no NEON),
  # whatever zig's or cargo-zigbuild's default CPU for `arm` is. cross/check-isa.sh checks it.
  cflags+=(-mcpu=arm1176jzf_s)
fi
if [ ${#cflags[@]} -gt 0 ]; then
  export "CFLAGS_$tgt=${cflags[*]}"
fi
if [ "$target" = arm-unknown-linux-musleabihf ]; then
  # Link with symbols: check-isa.sh attributes each instruction to its function. Stripped
  # below, keeping a copy. (Only here: changing a profile's strip rebuilds every crate.)
  profile_var=$(printf '%s' "$profile" | tr 'a-z-' 'A-Z_')
  export "CARGO_PROFILE_${profile_var}_STRIP=false"
fi

build=("${cargo[@]}" zigbuild --locked --profile "$profile" --target "$target" "${cargo_features[@]}")
[ "$std" = build-std ] && build+=(-Z "build-std=std,panic_abort")
echo "+ ${build[*]}  (CFLAGS_$tgt=${cflags[*]:-} RUSTFLAGS=${RUSTFLAGS:-})" >&2
t0=$(date +%s)
"${build[@]}" >&2
echo "built in $(( $(date +%s) - t0 )) s" >&2

dir=${CARGO_TARGET_DIR:-target}/$target/$profile
bin=$dir/hearth
# The profiles strip; the arm build keeps its symbols in hearth.unstripped. Cargo leaves an
# up-to-date binary alone, so only a freshly linked one still has symbols.
# (Not `readelf | grep -q`: under pipefail, grep's early exit can SIGPIPE readelf.)
sections=$(llvm-readelf -S "$bin")
if [[ $sections == *.symtab* ]]; then
  command -v llvm-strip >/dev/null || { echo "llvm-strip missing: apt-get install llvm" >&2; exit 1; }
  cp "$bin" "$bin.unstripped"
  llvm-strip --strip-all "$bin"
fi
if file "$bin" | grep -q "dynamically linked"; then
  echo "error: $bin is dynamically linked" >&2; exit 1
fi
echo "$bin $(stat -c %s "$bin")"
