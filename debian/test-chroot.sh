#!/usr/bin/env bash
# Installs each Hearth .deb into a fresh Debian bookworm chroot and checks install, upgrade,
# reinstall, remove and purge, then the user-creation fallbacks. Needs root, debootstrap and,
# for a .deb of another architecture than the host's, qemu-user-static.
#
#   debian/test-chroot.sh DEB...
#
# The chroot is the host's architecture (minbase + systemd + adduser); a foreign-arch .deb
# installs after `dpkg --add-architecture` (the package has no Depends) and its binary runs
# through qemu-<arch>-static copied into the chroot. The bootstrapped tree is cached as a
# tarball in $HEARTH_CACHE (default ~/.cache/hearth), so only the first run downloads.
#
# Checks, per .deb:
#   A  install (as an upgrade from the same package relabelled 0~hearthtest): files and modes,
#      conffile registered, the hearth user, the unit enabled, `hearth --version`, the default
#      config valid and equal to the built-in defaults (also with every optional "#key" line
#      uncommented), `hearth doctor` as the hearth user accepts config and state dir; the admin's
#      config edit and state survive the upgrade; a disabled unit stays disabled on reinstall;
#      a "running" systemd with a policy-rc.d refusal does not fail the install; `dpkg -r` keeps
#      /etc/hearth and /var/lib/hearth; `dpkg --purge` removes them and leaves nothing behind.
#   B  the same install and purge with adduser instead of systemd-sysusers, C with useradd.
#
# Environment: HEARTH_CACHE, HEARTH_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# HEARTH_KEEP_CHROOT=1 keeps the chroot of a failed run for inspection.
set -euo pipefail
debs=()
for a in "$@"; do debs+=("$(realpath -- "$a")"); done
cd "$(dirname "$0")/.."
repo=$PWD
t_start=$(date +%s)

suite=bookworm
mirror=${HEARTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${HEARTH_CACHE:-$HOME/.cache/hearth}
host_arch=$(dpkg --print-architecture)
# Bump the tag when the package list changes, so an old cache is not reused.
base=$cache/chroot-$suite-$host_arch-minbase-systemd-adduser-v1.tar.gz
path_env=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
ok() { echo "ok    $*"; }
[ $# -gt 0 ] || fail "usage: debian/test-chroot.sh DEB..."
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot)"

# Removes a scratch tree, after unmounting anything left mounted below it (debootstrap mounts
# proc and sys while it runs); refuses if a mount remains.
cleanup_tree() {
  local dir=$1
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" || true; done
  if awk -v d="$dir/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
    echo "warning: mounts remain under $dir; not removing it" >&2
    return 0
  fi
  rm -rf --one-file-system "$dir"
}

scratch=()
on_exit() {
  local rc=$? d
  if [ $rc -ne 0 ] && [ "${HEARTH_KEEP_CHROOT:-}" = 1 ]; then
    echo "kept for inspection: ${scratch[*]:-}" >&2
    return
  fi
  for d in "${scratch[@]:+${scratch[@]}}"; do cleanup_tree "$d"; done
}
trap on_exit EXIT

make_base() {
  if [ -s "$base" ]; then
    ok "cached chroot $base"
    return
  fi
  command -v debootstrap >/dev/null || fail "debootstrap missing: apt-get install debootstrap"
  mkdir -p "$cache"
  local t0 dir
  t0=$(date +%s)
  dir=$(mktemp -d "${TMPDIR:-/var/tmp}/hearth-debootstrap.XXXXXX")
  scratch+=("$dir")
  if ! debootstrap --variant=minbase --include=systemd,adduser "$suite" "$dir/root" "$mirror" \
    >"$dir/log" 2>&1; then
    tail -n 30 "$dir/log" >&2
    fail "debootstrap $suite from $mirror failed (log above)"
  fi
  chroot "$dir/root" apt-get clean
  rm -rf "$dir/root/var/lib/apt/lists/"*
  tar -C "$dir/root" --numeric-owner -czf "$base.part" . && mv "$base.part" "$base"
  ok "debootstrapped $suite ($host_arch) in $(($(date +%s) - t0))s, cached as $base ($(du -h "$base" | cut -f1))"
  cleanup_tree "$dir"
}

# --- helpers working on $root ---------------------------------------------------------------

in_root() { env -i PATH=$path_env LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$root" "$@"; }
as_hearth() {
  env -i PATH=$path_env LANG=C.UTF-8 HOME=/var/lib/hearth chroot --userspec=hearth:hearth "$root" "$@"
}
# Runs the packaged binary (through qemu for a foreign architecture).
hearth() { in_root "${runner[@]}" /usr/bin/hearth "$@"; }

dpkg_in_root() {
  local out
  if ! out=$(in_root dpkg "$@" 2>&1); then
    echo "$out" >&2
    fail "dpkg $* failed (output above)"
  fi
  printf '%s\n' "$out" >"$work/dpkg.log"
}

expect_stat() { # PATH "MODE OWNER GROUP" [file|directory]
  local got
  got=$(in_root stat -c '%a %U %G %F' "$1" 2>/dev/null) || fail "$1 is missing"
  case "$got" in
    "$2 ${3:-regular file}"*) ;;
    *) fail "$1 is '$got', expected '$2 ${3:-regular file}'" ;;
  esac
}

expect_absent() {
  if [ -e "$root$1" ] || [ -L "$root$1" ]; then fail "$1 still exists after $2"; fi
}

unit_link=/etc/systemd/system/multi-user.target.wants/hearth.service

check_user() {
  local pw uid home shell gid grp
  pw=$(in_root getent passwd hearth) || fail "no user hearth"
  IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
  [ "$uid" -lt 1000 ] || fail "hearth is uid $uid, not a system user (< 1000)"
  [ "$home" = /var/lib/hearth ] || fail "hearth's home is $home, not /var/lib/hearth"
  case "$shell" in */nologin | /bin/false) ;; *) fail "hearth's shell is $shell" ;; esac
  grp=$(in_root getent group hearth) || fail "no group hearth"
  [ "$(cut -d: -f3 <<<"$grp")" = "$gid" ] || fail "hearth's primary group is $gid, not group hearth"
  ok "user $pw ($1)"
}

check_enabled() {
  [ -L "$root$unit_link" ] || fail "$unit_link missing: hearth.service not enabled"
  local target
  target=$(in_root readlink -f "$unit_link")
  [ "$target" = /usr/lib/systemd/system/hearth.service ] || fail "$unit_link points to $target"
  if [ -x "$root/usr/bin/systemctl" ]; then
    local state
    state=$(in_root systemctl is-enabled hearth.service 2>&1) || true
    [ "$state" = enabled ] || fail "systemctl is-enabled hearth.service says '$state'"
  fi
  ok "hearth.service enabled ($unit_link -> $target)"
}

check_files() {
  expect_stat /usr/bin/hearth "755 root root"
  expect_stat /usr/lib/systemd/system/hearth.service "644 root root"
  expect_stat /usr/lib/sysusers.d/hearth.conf "644 root root"
  expect_stat /etc/hearth/hearth.toml "644 root root"
  expect_stat /etc/hearth/credentials "700 root root" directory
  expect_stat /var/lib/hearth "700 hearth hearth" directory
  local f
  for f in /usr/share/hearth/models/smollm2-135m-instruct.toml \
    /usr/share/hearth/models/all-minilm-l6-v2.toml /usr/share/doc/hearth/copyright \
    /usr/share/doc/hearth/README.md /usr/share/doc/hearth/README.Debian; do
    expect_stat "$f" "644 root root"
  done
  cmp -s "$root/usr/lib/systemd/system/hearth.service" systemd/hearth.service ||
    fail "the packaged unit differs from systemd/hearth.service of this tree"
  cmp -s "$root/usr/lib/sysusers.d/hearth.conf" systemd/hearth.sysusers ||
    fail "the packaged sysusers.d file differs from systemd/hearth.sysusers"
  for f in models/*.toml; do
    cmp -s "$root/usr/share/hearth/$f" "$f" || fail "/usr/share/hearth/$f differs from $f"
  done
  ok "files in place with their modes; unit, sysusers and manifests match this tree"
}

check_binary() { # EXPECTED-VERSION or ""
  local v
  v=$(hearth --version 2>&1) || fail "hearth --version failed: $v"
  if [ -n "$1" ] && [ "$v" != "hearth $1" ]; then
    fail "hearth --version says '$v', the package is version $1"
  fi
  ok "hearth --version: $v${runner[0]:+ (via ${runner[0]##*/})}"
}

check_config() {
  local out
  out=$(hearth --config /etc/hearth/hearth.toml config validate 2>&1) ||
    fail "the installed /etc/hearth/hearth.toml is refused: $out"
  ok "config validate: $out"
  # Every value set in the default config is the built-in default.
  hearth --config /etc/hearth/hearth.toml config show | tail -n +2 >"$work/show-file"
  hearth --config /dev/null config show | tail -n +2 >"$work/show-defaults"
  diff -u "$work/show-defaults" "$work/show-file" >&2 ||
    fail "/etc/hearth/hearth.toml sets values other than the built-in defaults (diff above)"
  ok "default config equals the built-in defaults"
  # Every optional setting ("#key = value", "#[table]") parses once uncommented.
  sed -E 's/^#([a-z_[])/\1/' "$root/etc/hearth/hearth.toml" >"$root/tmp/all-settings.toml"
  out=$(hearth --config /tmp/all-settings.toml config validate 2>&1) ||
    fail "the default config with its optional settings uncommented is refused: $out"
  ok "default config with every optional setting uncommented is valid"
  # doctor, as the service's user: config valid, state dir private and writable.
  out=$(as_hearth "${runner[@]}" /usr/bin/hearth --config /etc/hearth/hearth.toml \
    --data-dir /var/lib/hearth doctor 2>&1) || true
  grep -qx "ok    config /etc/hearth/hearth.toml is valid" <<<"$out" ||
    fail "hearth doctor (as hearth) does not accept the config: $out"
  grep -qx "ok    data dir /var/lib/hearth is private and writable" <<<"$out" ||
    fail "hearth doctor (as hearth) does not accept /var/lib/hearth: $out"
  ok "hearth doctor as user hearth: config valid, /var/lib/hearth private and writable"
}

check_conffile() {
  local line sum
  # shellcheck disable=SC2016 # ${Conffiles} is dpkg-query's format, not the shell's
  line=$(in_root dpkg-query -W -f='${Conffiles}\n' hearth | awk '$1 == "/etc/hearth/hearth.toml"')
  [ -n "$line" ] || fail "/etc/hearth/hearth.toml is not a registered conffile"
  sum=$(md5sum "$repo/debian/hearth.toml" | cut -d' ' -f1)
  [ "$(awk '{ print $2 }' <<<"$line")" = "$sum" ] ||
    fail "registered conffile hash ($line) is not that of debian/hearth.toml ($sum)"
  ok "conffile registered: $line"
}

# shellcheck disable=SC2016 # dpkg-query's format
status_of() { in_root dpkg-query -W -f='${db:Status-Abbrev}' hearth 2>/dev/null || echo "not-known"; }

# Everything but directories and the scratch/volatile places: what a purge must restore.
snapshot() {
  (cd "$root" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run \
    -o -path ./tmp -o -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache \
    -o -path ./.hearth-test \) -prune -o \( ! -type d -o -name '*hearth*' \) -print) |
    grep -Ev '^\./etc/(passwd|group|shadow|gshadow|subuid|subgid)-$|^\./etc/\.pwd\.lock$' | sort
}

check_purged_clean() {
  local left
  case "$(status_of)" in not-known | "pn" | "un") ;; *) fail "dpkg still knows hearth after purge: '$(status_of)'" ;; esac
  expect_absent /etc/hearth purge
  expect_absent /var/lib/hearth purge
  expect_absent "$unit_link" purge
  expect_absent /etc/systemd/system/hearth.service purge
  snapshot >"$work/after"
  if ! diff "$work/before" "$work/after" >"$work/left"; then
    cat "$work/left" >&2
    fail "purge left the chroot different from before the install (diff before/after above)"
  fi
  left=$(cd "$root" && find . -xdev \( -path ./proc -o -path ./tmp -o -path ./.hearth-test \) -prune \
    -o -name '*hearth*' -print)
  [ -z "$left" ] || fail "files named *hearth* remain after purge: $left"
  ok "purge: no file of the package, its state or its config left"
}

# The gateway as the unit runs it (ExecStart=/usr/bin/hearth gateway, User=hearth, config from
# /etc/hearth, $STATE_DIRECTORY=/var/lib/hearth), on a free port: it must answer /healthz and
# leave a private store and token behind. The chroot shares the host's network.
check_gateway() {
  local pid port
  env -i PATH=$path_env LANG=C.UTF-8 HOME=/var/lib/hearth STATE_DIRECTORY=/var/lib/hearth \
    chroot --userspec=hearth:hearth "$root" "${runner[@]}" /usr/bin/hearth gateway --port 0 \
    </dev/null >"$work/gateway.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    [ -f "$root/var/lib/hearth/gateway.json" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" || true
      if [ -n "${runner[*]}" ] && grep -q "os error 38" "$work/gateway.log"; then
        echo "skip  gateway start: LMDB's robust mutexes need a syscall qemu-user lacks; package a cross/build.sh --qemu binary to test it here"
        return 0
      fi
      cat "$work/gateway.log" >&2
      fail "the gateway exited at start as user hearth (log above)"
    fi
    sleep 0.1
  done
  [ -f "$root/var/lib/hearth/gateway.json" ] || { kill "$pid"; cat "$work/gateway.log" >&2; fail "the gateway wrote no gateway.json in 60s"; }
  port=$(sed -n 's/.*"port": *\([0-9]*\).*/\1/p' "$root/var/lib/hearth/gateway.json")
  if ! curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null; then
    kill "$pid"
    cat "$work/gateway.log" >&2
    fail "the gateway on port $port does not answer /healthz"
  fi
  kill -TERM "$pid"
  wait "$pid" || fail "the gateway did not exit cleanly on SIGTERM: $(cat "$work/gateway.log")"
  expect_stat /var/lib/hearth/gateway.token "600 hearth hearth"
  # (The store's own mode follows the umask: 0700 under the unit's UMask=0077.)
  [ "$(in_root stat -c '%U %F' /var/lib/hearth/store)" = "hearth directory" ] ||
    fail "the gateway left no store owned by hearth in /var/lib/hearth"
  ok "gateway ran as hearth with /etc/hearth/hearth.toml and \$STATE_DIRECTORY, answered /healthz on port $port, stopped on SIGTERM"
}

# Restores the account state of a pristine chroot before the next user-creation path.
drop_user() {
  in_root userdel hearth 2>/dev/null || true
  in_root groupdel hearth 2>/dev/null || true
  ! in_root getent passwd hearth >/dev/null || fail "could not delete user hearth"
}

# --- one .deb ---------------------------------------------------------------------------------

test_deb() {
  local deb=$1 arch pkg ver upver t0 q
  [ -f "$deb" ] || fail "$deb not found"
  t0=$(date +%s)
  pkg=$(dpkg-deb -f "$deb" Package)
  arch=$(dpkg-deb -f "$deb" Architecture)
  ver=$(dpkg-deb -f "$deb" Version)
  upver=${ver#*:}
  upver=${upver%-*}
  [ "$pkg" = hearth ] || fail "$deb is package $pkg, not hearth"
  echo "=== $deb ($pkg $ver $arch, $(stat -c %s "$deb") bytes)"
  local deps
  deps=$(dpkg-deb -f "$deb" Pre-Depends)$(dpkg-deb -f "$deb" Depends)
  [ -z "${deps// /}" ] || fail "$deb has dependencies: $deps"

  work=$(mktemp -d "${TMPDIR:-/var/tmp}/hearth-debtest.XXXXXX")
  scratch+=("$work")
  root=$work/root
  mkdir "$root"
  tar -C "$root" -xzf "$base"
  rm -rf "$root/run/systemd/system" # no running systemd: nothing may be started
  mkdir -p "$root/.hearth-test"

  runner=()
  if [ "$arch" != "$host_arch" ]; then
    in_root dpkg --add-architecture "$arch"
    case "$arch" in
      arm64) q=qemu-aarch64-static ;;
      armhf | armel) q=qemu-arm-static ;;
      amd64) q=qemu-x86_64-static ;;
      riscv64) q=qemu-riscv64-static ;;
      *) fail "no qemu for architecture $arch" ;;
    esac
    command -v "$q" >/dev/null || fail "$q missing: apt-get install qemu-user-static"
    cp "$(command -v "$q")" "$root/.hearth-test/$q"
    runner=("/.hearth-test/$q")
  fi
  cp "$deb" "$root/tmp/hearth.deb"
  # The same package relabelled as an older version, to install over it as an upgrade.
  dpkg-deb -R "$deb" "$work/old"
  sed -i 's/^Version: .*/Version: 0~hearthtest/' "$work/old/DEBIAN/control"
  dpkg-deb -Zgzip -z1 -b "$work/old" "$root/tmp/hearth-old.deb" >/dev/null
  rm -rf "$work/old"
  snapshot >"$work/before"

  echo "--- A: install, upgrade, reinstall, remove, purge (user by systemd-sysusers)"
  dpkg_in_root -i /tmp/hearth-old.deb
  [ "$(status_of)" = "ii " ] || fail "after dpkg -i: status '$(status_of)'"
  check_files
  check_conffile
  check_user "systemd-sysusers"
  check_enabled
  check_binary ""
  check_config

  # The admin's changes, which the upgrade must keep.
  echo "# admin edit" >>"$root/etc/hearth/hearth.toml"
  as_hearth sh -c 'echo state >/var/lib/hearth/state-marker'
  printf 'sk-test\n' >"$root/etc/hearth/credentials/openai"
  chmod 600 "$root/etc/hearth/credentials/openai"

  dpkg_in_root -i /tmp/hearth.deb
  grep -q "over (0~hearthtest)" "$work/dpkg.log" || fail "dpkg -i did not upgrade over 0~hearthtest: $(cat "$work/dpkg.log")"
  [ "$(status_of)" = "ii " ] || fail "after the upgrade: status '$(status_of)'"
  check_files
  check_user "kept"
  check_enabled
  check_binary "$upver"
  check_config
  tail -n1 "$root/etc/hearth/hearth.toml" | grep -qx "# admin edit" || fail "the upgrade lost the admin's config edit"
  ! ls "$root"/etc/hearth/hearth.toml.dpkg-* >/dev/null 2>&1 || fail "the upgrade left $(ls "$root"/etc/hearth/hearth.toml.dpkg-*)"
  [ -f "$root/var/lib/hearth/state-marker" ] || fail "the upgrade lost /var/lib/hearth/state-marker"
  ok "upgrade 0~hearthtest -> $ver kept the config edit, the state and the credentials"
  check_gateway


  # An admin's `systemctl disable` survives a reinstall; a running systemd that refuses
  # starts (policy-rc.d) does not make the install fail.
  in_root systemctl disable hearth.service >/dev/null 2>&1 || rm -f "$root$unit_link"
  [ ! -e "$root$unit_link" ] || fail "systemctl disable did not remove $unit_link"
  mkdir -p "$root/run/systemd/system"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  dpkg_in_root -i /tmp/hearth.deb
  rm -rf "$root/run/systemd/system" "$root/usr/sbin/policy-rc.d"
  [ ! -e "$root$unit_link" ] || fail "the reinstall re-enabled a unit the admin had disabled"
  ok "reinstall with systemd 'running' and policy-rc.d refusing: succeeded, unit stays disabled"
  in_root systemctl enable hearth.service >/dev/null 2>&1 || fail "systemctl enable hearth.service failed in the chroot"

  dpkg_in_root -r hearth
  [ "$(status_of)" = "rc " ] || fail "after dpkg -r: status '$(status_of)', expected rc"
  expect_absent /usr/bin/hearth "dpkg -r"
  expect_absent /usr/lib/systemd/system/hearth.service "dpkg -r"
  expect_absent /usr/lib/sysusers.d/hearth.conf "dpkg -r"
  expect_absent /usr/share/hearth "dpkg -r"
  [ -f "$root/etc/hearth/hearth.toml" ] || fail "dpkg -r removed /etc/hearth/hearth.toml"
  [ -f "$root/etc/hearth/credentials/openai" ] || fail "dpkg -r removed /etc/hearth/credentials"
  [ -f "$root/var/lib/hearth/state-marker" ] || fail "dpkg -r removed /var/lib/hearth"
  in_root getent passwd hearth >/dev/null || fail "dpkg -r removed the user"
  ok "dpkg -r: program gone; /etc/hearth, /var/lib/hearth and the user kept"

  dpkg_in_root --purge hearth
  check_purged_clean
  in_root getent passwd hearth >/dev/null || fail "purge removed the user (it is kept on purpose)"

  echo "--- B: install and purge with adduser (no systemd-sysusers)"
  drop_user
  mv "$root/usr/bin/systemd-sysusers" "$root/.hearth-test/systemd-sysusers"
  snapshot >"$work/before"
  dpkg_in_root -i /tmp/hearth.deb
  check_user "adduser"
  check_files
  check_enabled
  dpkg_in_root --purge hearth
  check_purged_clean

  echo "--- C: install and purge with useradd (neither systemd-sysusers nor adduser)"
  drop_user
  mv "$root/usr/sbin/adduser" "$root/.hearth-test/adduser"
  snapshot >"$work/before"
  dpkg_in_root -i /tmp/hearth.deb
  check_user "useradd"
  check_files
  check_enabled
  check_binary "$upver"
  dpkg_in_root --purge hearth
  check_purged_clean

  echo "=== $deb: all checks passed in $(($(date +%s) - t0))s"
  cleanup_tree "$work"
}

make_base
for deb in "${debs[@]}"; do test_deb "$deb"; done
echo "debian/test-chroot.sh: $# package(s) passed in $(($(date +%s) - t_start))s"
