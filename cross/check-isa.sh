#!/usr/bin/env bash
# Checks that a cross-built Hearth binary is what its target promises: a static ELF for the
# right machine, and, for arm-unknown-linux-musleabihf (Pi Zero / Pi 1), ARMv6 code with VFPv2
# and no NEON, since one ARMv7 or NEON instruction on a reachable path is a SIGILL on an
# ARM1176JZF-S.
#
#   cross/check-isa.sh BINARY TARGET
#
# Checks, by target:
#   all       ELF class and machine (readelf -h); no program interpreter, no DT_NEEDED
#             (fully static).
#   arm       readelf -A of the binary: Tag_CPU_arch v6/v6K/v6KZ, Tag_FP_arch VFPv2, no
#             Tag_Advanced_SIMD_arch, VFP argument passing (hard-float).
#             The linker (zig's LLD) keeps the attribute section of its FIRST input object
#             (crt1.o) and drops the others, so the binary's attributes say nothing about
#             LMDB's or ring's objects (a probe with a `.arch armv7-a`/`.fpu neon` object
#             linked in still shows "v6, VFPv2"). Hence the second check: every instruction
#             of the binary is disassembled (llvm-objdump, decoding ARMv8 + NEON so nothing
#             hides as <unknown>), and any ARMv6T2/ARMv7/ARMv8 instruction, NEON instruction,
#             VFPv3+ form or d16-d31 register fails, unless it lies in one of ring's
#             NEON-only functions (RING_NEON below): ring calls those only after
#             getauxval(AT_HWCAP) reported NEON (ring src/cpu/arm/linux.rs), which an
#             ARM1176 never does. That attribution needs symbols: pass the binary
#             cross/build.sh leaves as BINARY.unstripped, or BINARY itself if unstripped
#             (BINARY.unstripped is used automatically when it exists).
#   armv7     Tag_CPU_arch v7, hard-float.
#   riscv64gc Tag_RISCV_arch has i, m, a, f, d, c and no vector extension; double-float ABI.
set -euo pipefail
bin=${1:?usage: cross/check-isa.sh BINARY TARGET}
target=${2:?usage: cross/check-isa.sh BINARY TARGET}
[ -f "$bin" ] || { echo "check-isa: $bin not found" >&2; exit 2; }
readelf=$(command -v readelf || true)   # GNU binutils: it decodes foreign ARM and RISC-V attributes
[ -n "$readelf" ] || { echo "check-isa: readelf missing (apt-get install binutils)" >&2; exit 2; }
fail() { echo "check-isa FAIL ($target, $bin): $*" >&2; exit 1; }

header=$("$readelf" -h "$bin")
field() { printf '%s\n' "$header" | sed -n "s/^ *$1: *//p" | head -1; }
class=$(field Class)
machine=$(field Machine)
flags=$(field Flags)
case $target in
  aarch64-*) want_class=ELF64 want_machine=AArch64 ;;
  x86_64-*) want_class=ELF64 want_machine="Advanced Micro Devices X86-64" ;;
  arm-*|armv7-*) want_class=ELF32 want_machine=ARM ;;
  riscv64*) want_class=ELF64 want_machine=RISC-V ;;
  *) echo "check-isa: unknown target $target" >&2; exit 2 ;;
esac
[ "$class" = "$want_class" ] || fail "class $class, expected $want_class"
[ "$machine" = "$want_machine" ] || fail "machine $machine, expected $want_machine"
if "$readelf" -l "$bin" | grep 'INTERP' >/dev/null; then fail "has a program interpreter (dynamically linked)"; fi
if "$readelf" -d "$bin" 2>/dev/null | grep 'NEEDED' >/dev/null; then fail "needs shared libraries"; fi
echo "check-isa: $bin: $class $machine, static, flags: $flags"

attrs() { "$readelf" -A "$bin" 2>/dev/null | sed -n "s/^ *$1: *//p" | head -1; }
case $target in
  arm-*)
    cpu=$(attrs Tag_CPU_arch)
    fp=$(attrs Tag_FP_arch)
    simd=$(attrs Tag_Advanced_SIMD_arch)
    vfp_args=$(attrs Tag_ABI_VFP_args)
    echo "check-isa: attributes: Tag_CPU_arch=$cpu Tag_FP_arch=$fp Tag_Advanced_SIMD_arch=${simd:-none} Tag_ABI_VFP_args=$vfp_args"
    case $cpu in v6|v6K|v6KZ) ;; *) fail "Tag_CPU_arch is '$cpu', expected v6, v6K or v6KZ" ;; esac
    [ "$fp" = VFPv2 ] || fail "Tag_FP_arch is '$fp', expected VFPv2"
    [ -z "$simd" ] || fail "Tag_Advanced_SIMD_arch is '$simd' (NEON), expected none"
    [ "$vfp_args" = "VFP registers" ] || fail "Tag_ABI_VFP_args is '$vfp_args', expected hard-float"
    ;;
  armv7-*)
    cpu=$(attrs Tag_CPU_arch)
    echo "check-isa: attributes: Tag_CPU_arch=$cpu Tag_FP_arch=$(attrs Tag_FP_arch) Tag_ABI_VFP_args=$(attrs Tag_ABI_VFP_args)"
    [ "$cpu" = v7 ] || fail "Tag_CPU_arch is '$cpu', expected v7"
    [ "$(attrs Tag_ABI_VFP_args)" = "VFP registers" ] || fail "not hard-float"
    ;;
  riscv64*)
    arch=$("$readelf" -A "$bin" 2>/dev/null | sed -n 's/^ *Tag_RISCV_arch: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' | head -1)
    echo "check-isa: Tag_RISCV_arch=$arch"
    [ -n "$arch" ] || fail "no Tag_RISCV_arch attribute"
    for ext in m a f d c; do
      printf '%s' "$arch" | grep -Eq "^rv64i[0-9p]*(_[a-z0-9]+)*_${ext}[0-9]" || fail "Tag_RISCV_arch $arch lacks $ext"
    done
    if printf '%s' "$arch" | grep -Eq '_v[0-9]|_zve'; then fail "Tag_RISCV_arch $arch has the vector extension"; fi
    printf '%s' "$flags" | grep -q 'double-float ABI' || fail "flags '$flags': not the double-float ABI"
    ;;
esac

[ "${target%%-*}" = arm ] || { echo "check-isa: ok"; exit 0; }

# ARMv6 code check over the disassembly.
sym=$bin
[ -f "$bin.unstripped" ] && sym=$bin.unstripped
"$readelf" -S "$sym" | grep '\.symtab' >/dev/null ||
  fail "$sym has no symbols, so NEON code cannot be attributed to functions; check BINARY.unstripped from cross/build.sh"
objdump=$(command -v llvm-objdump || true)
[ -n "$objdump" ] || fail "llvm-objdump missing (apt-get install llvm)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
classify=$(cat <<'PY'
import bisect, re, sys
# Functions whose ARMv7/NEON code only runs when the CPU has it, by a run-time check:
ALLOWED = [
    # ring 0.17 (BoringSSL perlasm): NEON-only entry points and their local helpers, called
    # only after getauxval(AT_HWCAP) reported NEON (ring src/cpu/arm/linux.rs).
    ("ring NEON-only, behind AT_HWCAP NEON", re.compile(
        r"^(ring_core_\d+_\d+_\d+(_[a-z0-9]+)?__)?("
        r"bn_mul8x_mont_neon|ChaCha20_ctr32_neon|gcm_(init|gmult|ghash)_neon|"
        r"sha(256|512)_block_data_order_neon|vpaes_\w+|_vpaes_\w+|bsaes_\w+|_bsaes_\w+|"
        r"x25519_NEON|CRYPTO_poly1305_\w+_neon|openssl_poly1305_neon2_\w+|poly1305_\w+_neon\w*)$")),
    # musl's ARMv7 atomics: __set_thread_area (musl src/thread/arm/__set_thread_area.c) picks
    # the _v6 versions when AT_PLATFORM is "v6…", the _v7 ones only otherwise.
    ("musl ARMv7 atomics, behind AT_PLATFORM", re.compile(r"^__a_(barrier|cas)_v7$")),
    # LLVM libunwind saves/restores d16-d31 only when an unwind table says a frame saved
    # them, which ARMv6 (VFPv2, d0-d15) code never does.
    ("libunwind d16-d31, only for frames that saved them",
        re.compile(r"^_ZN9libunwind13Registers_arm\d+(save|restore)VFPv3EPv$")),
]
COND = re.compile(r"(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)$")
# Non-VFP ARM instructions that need more than ARMv6KZ (ARM1176JZF-S).
BEYOND_V6 = re.compile(r"^(movw|movt|bfi|bfc|ubfx|sbfx|rbit|mls|dmb|dsb|isb|pldw|pli|sdiv|udiv|"
    r"ldrht|strht|ldrsbt|ldrsht|dbg|eret|hvc|sevl|it[te]*|cbn?z|tbb|tbh|crc32\w*|"
    r"lda\w*|stl\w*|aes\w+|sha1\w+|sha256\w+|vmull\.p64)$")
# VFPv2 instructions (UAL); any other v-instruction is NEON, VFPv3/v4 or ARMv8.
VFP2 = re.compile(r"^(vabs|vadd|vsub|vmul|vnmul|vmla|vmls|vnmla|vnmls|vdiv|vsqrt|vneg|vcmpe?|"
    r"vcvtr?|vmov|vmrs|vmsr|vldr|vstr|vldm\w*|vstm\w*|vpush|vpop)$")
VFP2_TYPES = {"", "f32", "f64", "32", "s32", "u32"}
HIGH_D = re.compile(r"\bd(1[6-9]|2\d|3[01])\b")
Q_REG = re.compile(r"\bq([0-9]|1[0-5])\b")
# Functions by address (STT_FUNC symbols; hand-written assembly often has no .size, so such a
# function runs to the next one). Local labels inside a function do not start a new one.
funcs = []
for line in open(sys.argv[1]):
    value, size, name = line.split()
    funcs.append((int(value, 16) & ~1, int(size), name))
funcs.sort()
starts = [f[0] for f in funcs]
def owner(addr):
    i = bisect.bisect_right(starts, addr) - 1
    if i < 0:
        return "?"
    start, size, name = funcs[i]
    if size:
        return name if addr < start + size else "?"
    return name
insn = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
label = re.compile(r"^([0-9a-f]+) <(.+)>:$")
# ARM mapping symbols ($a ARM code, $t Thumb, $d data) say how to decode what follows; any
# other label starts ARM code unless a mapping symbol sits at the same address.
mode, mode_at = "a", -1
bad, allowed, total, thumb = {}, {}, 0, 0
for line in sys.stdin:
    line = line.rstrip("\n")
    m = label.match(line)
    if m:
        at, name = int(m.group(1), 16), m.group(2)
        if name.startswith("$"):
            mode, mode_at = name[1], at
        elif at != mode_at:
            mode = "a"
        continue
    m = insn.match(line)
    if not m or mode == "d" or m.group(2).startswith("."):
        continue
    total += 1
    addr, mnem, ops = int(m.group(1), 16), m.group(2), m.group(3).split("@")[0]
    base, _, types = mnem.partition(".")
    if not (BEYOND_V6.match(base) or VFP2.match(base)):
        base = COND.sub("", base) or base  # vmovne.f64 -> vmov, movweq -> movw
    why = None
    if mode == "t":
        thumb += 1
    if BEYOND_V6.match(base):
        why = "ARMv6T2+/v7/v8 instruction"
    elif base.startswith("v"):
        if not VFP2.match(base):
            why = "NEON/VFPv3+/v8 instruction"
        elif Q_REG.search(ops) or HIGH_D.search(ops):
            why = "NEON register or d16-d31"
        elif any(t not in VFP2_TYPES for t in types.split(".")):
            why = "NEON data type"
        elif base in ("vmov", "vcvt") and "#" in ops:
            why = "VFPv3 immediate/fixed-point form"
    if why:
        func = owner(addr)
        guard = next((g for g, pat in ALLOWED if pat.match(func)), None)
        d = allowed.setdefault(guard, {}) if guard else bad
        d.setdefault(func, []).append(f"{mnem} {ops.strip()}  ({why})")
print(f"check-isa: disassembled {total} instructions ({thumb} Thumb)")
for guard, funcs in allowed.items():
    n = sum(len(l) for l in funcs.values())
    print(f"check-isa: allowed ({guard}): {n} instructions in {len(funcs)} functions: " + ", ".join(sorted(funcs)))
if bad:
    print(f"check-isa: {sum(len(l) for l in bad.values())} instructions beyond ARMv6/VFPv2 in {len(bad)} functions:", file=sys.stderr)
    for f, l in sorted(bad.items()):
        print(f"  {f}: {len(l)}: " + "; ".join(l[:4]), file=sys.stderr)
    sys.exit(1)
print("check-isa: ok: no ARMv7 or NEON instruction outside functions that run only on CPUs having it")
PY
)
"$readelf" -sW "$sym" | awk '$4 == "FUNC" {print $2, $3, $8}' > "$tmp/funcs"
"$objdump" -d --no-show-raw-insn --triple=armv8a-linux-gnueabihf \
  --mattr=+neon,+crypto,+fp-armv8,+hwdiv-arm,+mp,+trustzone,+virtualization,+crc "$sym" |
python3 -c "$classify" "$tmp/funcs" || fail "code beyond ARMv6/VFPv2 (see above)"
