#!/usr/bin/env bash
# Packages a prebuilt static Hearth binary as a .deb with cargo-deb ([package.metadata.deb] in
# Cargo.toml; maintainer scripts, default config and docs in debian/).
#
#   debian/build.sh TARGET [BINARY] [-- CARGO-DEB-ARGS...]
#
# TARGET  aarch64-unknown-linux-musl (arm64), armv7-unknown-linux-musleabihf (armhf) or
#         x86_64-unknown-linux-musl (amd64); arm-unknown-linux-musleabihf (ARMv6) also makes
#         an armhf package, one that also runs on Raspberry Pi OS's ARMv6 armhf (Pi 1/Zero);
#         riscv64gc-unknown-linux-musl makes riscv64
# BINARY  the binary to package (default: target/TARGET/release/hearth from cross/build.sh)
#
# Writes target/debian/hearth_<version>-<revision>_<arch>.deb and prints its path and size.
# Nothing is compiled: cargo-deb runs with --no-build on a staged copy of BINARY, so any build
# (release, ci-cross, a --qemu test build) can be packaged. Needs cargo-deb
# (`cargo install cargo-deb --locked`, ~3 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: debian/build.sh TARGET [BINARY] [-- CARGO-DEB-ARGS...]"
target=${1:?$usage}
shift
bin=target/$target/release/hearth
if [ $# -gt 0 ] && [ "$1" != "--" ]; then bin=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then shift; fi

die() { echo "debian/build.sh: $*" >&2; exit 1; }

# The ELF machine the target must have (e_machine, little-endian at offset 18) and its class.
case "$target" in
  aarch64-unknown-linux-musl) arch=arm64 machine=183 class=2 ;;
  armv7-unknown-linux-musleabihf | arm-unknown-linux-musleabihf) arch=armhf machine=40 class=1 ;;
  x86_64-unknown-linux-musl) arch=amd64 machine=62 class=2 ;;
  riscv64gc-unknown-linux-musl) arch=riscv64 machine=243 class=2 ;;
  *) die "unsupported target $target (aarch64-unknown-linux-musl, armv7-unknown-linux-musleabihf, arm-unknown-linux-musleabihf, x86_64-unknown-linux-musl, riscv64gc-unknown-linux-musl)" ;;
esac
cargo deb --version >/dev/null 2>&1 || die "cargo-deb missing: cargo install cargo-deb --locked"
[ -f "$bin" ] || die "$bin not found; build it with: cross/build.sh $target"

# Refuse a binary of another architecture or a dynamic one: the package has no Depends.
got_class=$(od -An -tu1 -j4 -N1 "$bin" | tr -d ' ')
got_machine=$(od -An -tu2 -j18 -N2 --endian=little "$bin" | tr -d ' ')
[ "$(head -c4 "$bin" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || die "$bin is not an ELF file"
if [ "$got_class" != "$class" ] || [ "$got_machine" != "$machine" ]; then
  die "$bin is ELF class $got_class machine $got_machine, not $target (class $class machine $machine)"
fi
if command -v file >/dev/null && file -L "$bin" | grep -q "dynamically linked"; then
  die "$bin is dynamically linked; the package needs a static musl build"
fi

# cargo-deb resolves the asset target/release/hearth to $CARGO_TARGET_DIR/TARGET/release/hearth.
stage=target/debian-stage
mkdir -p "$stage/$target/release" target/debian
cp "$bin" "$stage/$target/release/hearth"
# A package carries a stripped binary (release builds already are; ci-cross builds may not
# be). llvm-strip handles every target's ELF.
if command -v file >/dev/null && file -L "$bin" | grep -q "not stripped"; then
  strip_tool=$(command -v llvm-strip || true)
  [ -n "$strip_tool" ] || die "$bin is not stripped and llvm-strip is missing (apt-get install llvm)"
  "$strip_tool" "$stage/$target/release/hearth"
fi
deb=$(CARGO_TARGET_DIR=$stage cargo deb --no-build --no-strip --target "$target" \
  --output target/debian/ "$@" | tail -n1)
[ -f "$deb" ] || die "cargo deb did not report a package (got: $deb)"
[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || die "$deb is not Architecture: $arch"
if dpkg-deb -f "$deb" Description | grep -q "generated from Rust crate"; then
  echo "debian/build.sh: warning: no short Description; add description = \"...\" to [package] in Cargo.toml" >&2
fi
top=$(sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
if [ "$top" != "$(dpkg-deb -f "$deb" Version)" ]; then
  echo "debian/build.sh: warning: debian/changelog's latest entry is $top, the package is $(dpkg-deb -f "$deb" Version): add an entry" >&2
fi
echo "$deb $(stat -c %s "$deb")"
