#!/usr/bin/env bash
# Boots the Hearth SD-card image under full-system emulation and checks it from inside the
# guest (slow: a few minutes per boot without KVM).
#
#   image/test.sh [IMAGE] [--one-boot] [--keep]
#
# IMAGE       hearth-<version>-rpi-arm64.img or .img.xz (default: the newest in target/image)
# --one-boot  skip the second boot (ssh switched on by an authorized_keys file)
# --keep      keep the work directory (target/image/test) with the disk and serial logs
#
# What it does, on a copy of the image grown by 1 GiB (as a bigger SD card would be):
#  - takes the kernel and initrd from the image's root fs (/boot, read with debugfs; they
#    must equal the copies raspi-firmware put on the FAT partition) and the kernel command
#    line from its cmdline.txt, with the console moved to the virt board's PL011 (ttyAMA0);
#  - puts first-boot files on the FAT partition: hearth.toml (gateway on 0.0.0.0 with a
#    token from credentials/gateway), credentials/gateway, wifi.conf, hostname;
#  - adds one test unit to its copy of the root fs (hearth-test-check.service, via debugfs):
#    it waits for GET /healthz on 127.0.0.1:18789 inside the guest, then reports on the
#    serial console: the files applied and removed from the FAT partition, ssh off (not
#    enabled, not running, nothing on port 22, no host keys), the root fs grown, the
#    gateway's idle VmRSS (from /proc/<pid>/status, 15 s after /healthz), failed units;
#    then powers the guest off;
#  - boots it: qemu-system-aarch64 -M virt -cpu cortex-a72 -m 1024, the image as a
#    virtio disk, user networking forwarding host ports to the guest's 18789 and 22; while
#    the guest checks, the host also calls /healthz and /v1/models (with the token) through
#    the forwarded port;
#  - boot 2: drops an authorized_keys on the FAT partition, boots again and checks that
#    ssh is now on, with fresh host keys, and that the host can log in with the key.
#    Then, under the real systemd: a gateway whose main loop wedges (the fault hook, with
#    WatchdogSec=10s in a runtime drop-in) must be killed and restarted by the watchdog;
#    and a signed release whose binary never starts, installed by `hearth update` that is
#    SIGKILLed right after the switch, must be undone by OnFailure=hearth-rollback.service
#    once systemd gives up on it (StartLimitBurst=5), leaving slot-a running and healthy.
# Prints the image sizes, the time from qemu start to /healthz (host clock, indicative) and
# the guest-reported idle RSS. Needs qemu-system-arm (qemu-system-aarch64), mtools,
# e2fsprogs (debugfs), fdisk (sfdisk), xz-utils, curl, openssh-client. No root needed.
set -euo pipefail
# All of it is one function, read completely before it runs: editing or pulling this file
# during a (long) run cannot change the run midway.
main() {

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
img="" boots=2 keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --one-boot) boots=1; shift ;;
    --keep) keep=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) img=$1; shift ;;
  esac
done
die() { echo "FAIL: $*" >&2; exit 1; }
for c in qemu-system-aarch64 mcopy mdir mtype mmd debugfs sfdisk xz curl ssh ssh-keygen; do
  command -v "$c" >/dev/null || die "$c missing: apt-get install qemu-system-arm mtools e2fsprogs fdisk xz-utils curl openssh-client"
done
if [ -z "$img" ]; then
  img=$(ls -t "$repo"/target/image/hearth-*-rpi-arm64.img 2>/dev/null | head -n 1 || true)
  [ -n "$img" ] || img=$(ls -t "$repo"/target/image/hearth-*-rpi-arm64.img.xz 2>/dev/null | head -n 1 || true)
  [ -n "$img" ] || die "no image in target/image; build one with image/build.sh"
fi
[ -f "$img" ] || die "no image at $img"

work=$repo/target/image/test
rm -rf "$work"
mkdir -p "$work"
qpid=""
cleanup() {
  [ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true
  if [ "$keep" = 0 ]; then rm -rf "$work"; else echo "kept $work" >&2; fi
}
trap cleanup EXIT

# Sizes of the artifact: the .img.xz and the .img beside it.
base=${img%.xz}
xz_file=$base.xz
disk=$work/disk.img
if [ -f "$xz_file.sha256" ] && [ -f "$xz_file" ]; then
  (cd "$(dirname "$xz_file")" && sha256sum --quiet -c "${xz_file##*/}.sha256") || die "${xz_file##*/} does not match its .sha256"
fi
if [ "$img" != "$base" ]; then
  xz -dc "$img" >"$disk"
else
  cp --sparse=always "$img" "$disk"
fi
size_raw=$(stat -c %s "$disk")
size_xz=$([ -f "$xz_file" ] && stat -c %s "$xz_file" || echo "?")

# Partition offsets (bytes) from the image's MBR.
read -r boot_start root_start < <(sfdisk -d "$disk" | awk -F'[=,]' '/start=/ {gsub(/ /, "", $2); printf "%s ", $2 * 512} END {print ""}')
[ -n "$root_start" ] || die "could not read the partition table of $img"
fat="$disk@@$boot_start"
ext="$disk?offset=$root_start"
export MTOOLS_SKIP_CHECK=1
root_part_bytes=$(sfdisk -d "$disk" | awk -F'size=' '/start=/ {split($2, a, ","); s = a[1]} END {gsub(/ /, "", s); print s * 512}')
truncate -s +1G "$disk"

# Kernel and initrd from the root fs; they must match what the firmware would boot.
kernel=$(debugfs -R 'ls -p /boot' "$ext" 2>/dev/null | awk -F/ '$6 ~ /^vmlinuz-/ {print $6}' | sort -V | tail -n 1)
[ -n "$kernel" ] || die "no /boot/vmlinuz-* in the root fs"
kver=${kernel#vmlinuz-}
debugfs -R "dump /boot/vmlinuz-$kver $work/vmlinuz" "$ext" >/dev/null 2>&1
debugfs -R "dump /boot/initrd.img-$kver $work/initrd.img" "$ext" >/dev/null 2>&1
[ -s "$work/vmlinuz" ] && [ -s "$work/initrd.img" ] || die "could not read the kernel/initrd $kver from the root fs"
mcopy -n -i "$fat" "::vmlinuz-$kver" "$work/fat-vmlinuz"
mcopy -n -i "$fat" "::initrd.img-$kver" "$work/fat-initrd.img"
cmp -s "$work/vmlinuz" "$work/fat-vmlinuz" || die "the FAT partition's vmlinuz-$kver differs from /boot's"
cmp -s "$work/initrd.img" "$work/fat-initrd.img" || die "the FAT partition's initrd.img-$kver differs from /boot's"
mtype -i "$fat" ::config.txt | grep -q "^kernel=vmlinuz-$kver" || die "config.txt does not boot vmlinuz-$kver"
cmdline=$(mtype -i "$fat" ::cmdline.txt | tr -d '\r' | head -n 1)
echo "$cmdline" | grep -q 'root=LABEL=RASPIROOT' || die "cmdline.txt: $cmdline"
# The virt board's serial port is a PL011, ttyAMA0; the Pi's consoles do not exist there.
# No login prompt on it: the test reads the console, nobody logs in.
cmdline="$(echo "$cmdline" | sed -E 's/(^| )console=[^ ]+//g') console=ttyAMA0 systemd.mask=serial-getty@ttyAMA0.service"

# ---------------------------------------------------------------------------------------
# First-boot files on the FAT partition.
token=test-token-$RANDOM$RANDOM
ssid="Hearth Test Net"
passphrase="not a real password"
cat >"$work/hearth.toml" <<'EOF'
[gateway]
bind = "0.0.0.0"
port = 18789
auth = "token"
token = "credential:gateway"
EOF
printf '%s\n' "$token" >"$work/gateway"
printf '# test\r\ncountry=de\r\nssid="%s"\r\npsk=%s\r\n' "$ssid" "$passphrase" >"$work/wifi.conf"
echo "hearth-test" >"$work/hostname"
mcopy -i "$fat" "$work/hearth.toml" "$work/wifi.conf" "$work/hostname" ::/
mmd -i "$fat" ::/credentials
mcopy -i "$fat" "$work/gateway" ::/credentials/gateway

# The in-guest check: a unit and a script added to this copy of the root fs.
cat >"$work/hearth-test-check" <<'EOF'
#!/bin/bash
# Added by image/test.sh to its copy of the image. Reports on the serial console (through
# the journal: StandardOutput=journal+console).
say() { echo "HEARTH-TEST $*"; }
boot=$(sed -n 's/.*hearth\.test=\([0-9]\).*/\1/p' /proc/cmdline)
healthz() {
  local r
  exec 3<>/dev/tcp/127.0.0.1/18789 2>/dev/null || return 1
  printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
  r=$(timeout 5 cat <&3)
  exec 3<&- 3>&-
  case $r in "HTTP/1.1 200"*) printf '%s' "${r##*$'\r\n\r\n'}" ;; *) return 1 ;; esac
}
ok=0
for _ in $(seq 1 600); do
  if body=$(healthz); then ok=1; break; fi
  sleep 0.5
done
if [ "$ok" = 1 ]; then
  say "healthz ok uptime=$(cut -d' ' -f1 /proc/uptime) body=$body"
else
  say "healthz FAILED"; systemctl status hearth.service --no-pager -n 40; journalctl -u hearth.service --no-pager -n 40
fi
if [ "$boot" = 2 ]; then
  # ssh.service makes its host keys before sshd starts (slow under emulation).
  for _ in $(seq 1 600); do [ "$(systemctl is-active ssh.service)" = activating ] || break; sleep 1; done
  say "ssh_ready state=$(systemctl is-active ssh.service)"
  sleep 10 # the host logs in meanwhile
fi
# Seconds since boot (CLOCK_MONOTONIC) at which units started and became active.
t() { awk -v us="$(systemctl show -p "$2" --value ${1:+"$1"})" 'BEGIN {printf "%.1f", us / 1e6}'; }
say "timeline userspace=$(t "" UserspaceTimestampMonotonic) firstboot=$(t hearth-firstboot.service InactiveExitTimestampMonotonic)-$(t hearth-firstboot.service ActiveEnterTimestampMonotonic) online=$(t network-online.target ActiveEnterTimestampMonotonic) hearth_exec=$(t hearth.service ExecMainStartTimestampMonotonic) hearth_ready=$(t hearth.service ActiveEnterTimestampMonotonic)"
say "hostname=$(hostname)"
say "hearth_active=$(systemctl is-active hearth.service) restarts=$(systemctl show -p NRestarts --value hearth.service)"
say "execstart=$(systemctl show -p ExecStart --value hearth.service | sed 's/.*path=\([^ ;]*\).*/\1/')"
say "current=$(readlink /opt/hearth/current) bin=$(readlink /usr/local/bin/hearth)"
say "config_bind=$(sed -n 's/^bind *= *"\(.*\)"/\1/p' /etc/hearth/hearth.toml 2>/dev/null)"
say "credential=$(stat -c %a /etc/hearth/credentials/gateway 2>/dev/null) loadcredential=$(grep -c '^LoadCredential=gateway:' /etc/systemd/system/hearth.service.d/50-credentials.conf 2>/dev/null)"
w=/etc/wpa_supplicant/wpa_supplicant-wlan0.conf
say "wifi_conf=$(stat -c %a $w 2>/dev/null) ssid_hex=$(sed -n 's/^ *ssid=//p' $w 2>/dev/null) psk_hex=$(grep -cE '^ *psk=[0-9a-f]{64}$' $w 2>/dev/null) country=$(sed -n 's/^country=//p' $w 2>/dev/null) plaintext=$(grep -c 'not a real password' $w 2>/dev/null)"
say "fat_left=$(cd /boot/firmware && ls -d hearth.toml wifi.conf hostname credentials authorized_keys 2>/dev/null | tr '\n' ' ')"
say "ssh_enabled=$(systemctl is-enabled ssh.service 2>/dev/null) ssh_active=$(systemctl is-active ssh.service) port22=$([ "$(ss -Hltn 'sport = :22' | wc -l)" -gt 0 ] && echo yes || echo no) hostkeys=$(ls /etc/ssh/ssh_host_*_key 2>/dev/null | wc -l) root_keys=$(grep -c . /root/.ssh/authorized_keys 2>/dev/null || echo 0)"
say "rootfs_bytes=$(df -B1 --output=size / | tail -n 1 | tr -d ' ') machine_id=$(wc -c </etc/machine-id)"
say "models_owner=$(stat -c %U /var/lib/hearth/models/smollm2-135m-instruct/*.gguf 2>/dev/null | head -n 1) state_owner=$(stat -c '%U %a' /var/lib/hearth)"
sleep 15
pid=$(systemctl show -p MainPID --value hearth.service)
say "idle_rss_kb=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null) idle_hwm_kb=$(awk '/^VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null) cgroup_mem=$(systemctl show -p MemoryCurrent --value hearth.service) mem_total_kb=$(awk '/^MemTotal/ {print $2}' /proc/meminfo) mem_avail_kb=$(awk '/^MemAvailable/ {print $2}' /proc/meminfo)"
say "failed_units=$(systemctl list-units --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')"
if [ "$boot" = 2 ]; then
  # Under the real systemd, 1: a gateway whose main loop wedges (fault hook) stops its
  # WATCHDOG=1 pings while /healthz still answers; systemd must kill and restart it.
  wait_healthz() { for _ in $(seq 1 "$1"); do healthz >/dev/null && return 0; sleep 1; done; return 1; }
  n0=$(systemctl show -p NRestarts --value hearth.service)
  d=/run/systemd/system/hearth.service.d
  mkdir -p $d
  printf '[Service]\nWatchdogSec=10s\nEnvironment=HEARTH_FAULT_WEDGE_MAIN_LOOP_AFTER_MS=5000\n' >$d/90-image-test-wedge.conf
  systemctl daemon-reload
  since=$(date '+%Y-%m-%d %H:%M:%S')
  systemctl restart --no-block hearth.service
  for _ in $(seq 1 600); do [ "$(systemctl show -p NRestarts --value hearth.service)" -gt "$n0" ] && break; sleep 1; done
  restarts=$(($(systemctl show -p NRestarts --value hearth.service) - n0))
  journalctl -u hearth.service --since "$since" --no-pager -o cat >/run/wedge.log
  wedged=$(grep -n -m1 'fault injection (HEARTH_FAULT_WEDGE_MAIN_LOOP_AFTER_MS)' /run/wedge.log | cut -d: -f1)
  timeout=$(grep -n -m1 'Watchdog timeout' /run/wedge.log | cut -d: -f1)
  rm $d/90-image-test-wedge.conf
  systemctl daemon-reload
  systemctl restart hearth.service
  wait_healthz 600 && after=ok || after=FAILED
  # Restarted, and by the watchdog, after the wedge (not, say, during a slow start).
  wd_ok=no
  [ "$restarts" -ge 1 ] && [ -n "$wedged" ] && [ -n "$timeout" ] && [ "$wedged" -lt "$timeout" ] && [ $after = ok ] && wd_ok=yes
  say "watchdog rollback_unit_after_watchdog=$(systemctl show -p Result --value hearth-rollback.service)/$(systemctl show -p ConditionResult --value hearth-rollback.service)"
  say "watchdog wd_ok=$wd_ok restarts=$restarts wedge_line=${wedged:-none} timeout_line=${timeout:-none} healthz_after=$after"
  grep -m1 'Watchdog timeout' /run/wedge.log | sed 's/^/HEARTH-TEST   | /'

  # Under the real systemd, 2: a signed release whose binary never starts; the update is
  # SIGKILLed right after the switch (as a power cut would), and the service restarted (as
  # the boot after it would). systemd gives up (Restart=on-failure, StartLimitBurst=5), its
  # OnFailure= runs hearth-rollback.service from the previous slot, which puts the old
  # binary back and restarts it.
  # A fresh start-limit count (the watchdog run above used some of StartLimitBurst=5).
  systemctl reset-failed hearth.service
  u=/root/update-test
  rm -rf $u
  mkdir -p $u /etc/hearth/update-keys
  hearth update keygen --out $u >/dev/null
  printf '#!/bin/sh\necho "image test: this release never starts" >&2\nexit 3\n' >$u/broken
  chmod 0755 $u/broken
  hearth update sign --key $u/hearth-update.key --release 99.0.0 \
    --binary aarch64-unknown-linux-musl=$u/broken --out $u/release >/dev/null
  cp $u/hearth-update.pub /etc/hearth/update-keys/image-test.pub
  rc=0
  HEARTH_UPDATE_KILL_AT=switched hearth update --from $u/release/manifest.json >$u/update.log 2>&1 || rc=$?
  switched=$(readlink /opt/hearth/current) prev=$(readlink /opt/hearth/previous)
  systemctl restart --no-block hearth.service
  rb_before=$(systemctl show -p ExecMainExitTimestampMonotonic --value hearth-rollback.service)
  ran() { [ "$(systemctl show -p ExecMainExitTimestampMonotonic --value hearth-rollback.service)" != "$rb_before" ]; }
  for _ in $(seq 1 900); do ran && [ "$(systemctl is-active hearth-rollback.service)" != activating ] && break; sleep 1; done
  wait_healthz 600 && after=ok || after=FAILED
  say "rollback update_rc=$rc switched_to=$switched previous_then=$prev rollback_ran=$(ran && echo yes || echo no) rollback_status=$(systemctl show -p ExecMainStatus --value hearth-rollback.service) rb_current=$(readlink /opt/hearth/current) rb_previous=$(readlink /opt/hearth/previous || echo none) rb_hearth=$(systemctl is-active hearth.service) rb_healthz=$after rb_exe=$(readlink /proc/"$(systemctl show -p MainPID --value hearth.service)"/exe | sed 's|/hearth$||; s|.*/||') recorded=$(hearth update status 2>&1 | grep -c 'rolled back')"
  hearth update status 2>&1 | sed 's/^/HEARTH-TEST   | /'
  journalctl -u hearth-rollback.service -b --no-pager -o cat | tail -n 8 | sed 's/^/HEARTH-TEST   | /'
  say "failed_units_end=$(systemctl list-units --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')"
fi
say "setup_log:"; sed 's/^/HEARTH-TEST   | /' /boot/firmware/hearth-setup.log
say "done boot=$boot"
systemctl poweroff
EOF
cat >"$work/hearth-test-check.service" <<'EOF'
[Unit]
Description=image/test.sh: check Hearth from inside the guest
After=hearth.service
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/hearth-test-check
StandardOutput=journal+console
StandardError=journal+console
EOF
chmod 0755 "$work/hearth-test-check"
debugfs -w -f - "$ext" >/dev/null 2>"$work/debugfs.err" <<EOF
cd /usr/local/sbin
write $work/hearth-test-check hearth-test-check
cd /etc/systemd/system
write $work/hearth-test-check.service hearth-test-check.service
cd /etc/systemd/system/multi-user.target.wants
symlink hearth-test-check.service /etc/systemd/system/hearth-test-check.service
EOF
debugfs -R 'stat /usr/local/sbin/hearth-test-check' "$ext" 2>/dev/null | grep -q 'Mode:  0755' ||
  { cat "$work/debugfs.err" >&2; die "could not add the check unit to the root fs"; }

# ---------------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
hport=$(free_port)
sport=$(free_port)

boot() { # N
  local n=$1 log=$work/serial-$1.log t0 deadline host_ok=""
  : >"$log"
  t0=$(date +%s%N)
  qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 -nodefaults -display none -no-reboot \
    -kernel "$work/vmlinuz" -initrd "$work/initrd.img" -append "$cmdline hearth.test=$n" \
    -drive if=none,id=disk,file="$disk",format=raw,cache=unsafe -device virtio-blk-pci,drive=disk \
    -netdev user,id=net,hostfwd=tcp:127.0.0.1:$hport-:18789,hostfwd=tcp:127.0.0.1:$sport-:22 \
    -device virtio-net-pci,netdev=net -device virtio-rng-pci -serial file:"$log" &
  qpid=$!
  deadline=$(($(date +%s) + ${HEARTH_TEST_TIMEOUT:-1500}))
  healthz_ms=""
  while kill -0 "$qpid" 2>/dev/null; do
    if [ -z "$healthz_ms" ] && grep -aq 'HEARTH-TEST healthz' "$log"; then
      healthz_ms=$((($(date +%s%N) - t0) / 1000000))
      # From the host too, through the forwarded port (the gateway is bound to 0.0.0.0).
      if curl -fsS -m 20 "http://127.0.0.1:$hport/healthz" >/dev/null &&
        curl -fsS -m 20 -H "Authorization: Bearer $token" "http://127.0.0.1:$hport/v1/models" >"$work/models-$n.json" &&
        ! curl -fsS -m 20 -o /dev/null -H "Authorization: Bearer wrong" "http://127.0.0.1:$hport/v1/models" 2>/dev/null; then
        host_ok=yes
      else
        host_ok=no
      fi
    fi
    if [ "$n" = 2 ] && [ -z "$ssh_login" ] && grep -aq 'HEARTH-TEST ssh_ready' "$log"; then
      ssh_login=no
      for _ in 1 2 3; do
        if ssh -i "$work/id_test" -p "$sport" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
          -o BatchMode=yes -o ConnectTimeout=30 root@127.0.0.1 'cat /etc/hearth-image-release' >"$work/ssh-$n.out" 2>"$work/ssh-$n.err"; then
          ssh_login=yes
          break
        fi
        sleep 1
      done
    fi
    if [ "$(date +%s)" -gt "$deadline" ]; then
      kill "$qpid"; tail -n 60 "$log" >&2; die "boot $n: no poweroff within ${HEARTH_TEST_TIMEOUT:-1500} s"
    fi
    sleep 0.5
  done
  wait "$qpid" || true
  qpid=""
  boot_s=$((($(date +%s%N) - t0) / 1000000000))
  tr -d '\r' <"$log" | grep -ao 'HEARTH-TEST .*' >"$work/report-$n.txt" || true
  host_healthz=$host_ok
}
val() { sed -n "s/^HEARTH-TEST .*\b$2=\([^ ]*\).*/\1/p" "$work/report-$1.txt" | head -n 1; }
fails=0
expect() { # DESCRIPTION ACTUAL WANTED
  if [ "$2" = "$3" ]; then echo "  ok   $1 ($2)"; else echo "  FAIL $1: got '$2', want '$3'"; fails=$((fails + 1)); fi
}

echo "== boot 1: first boot with hearth.toml, credentials/gateway, wifi.conf, hostname"
boot 1
grep -q '^HEARTH-TEST done' "$work/report-1.txt" || { tail -n 80 "$work/serial-1.log" >&2; die "boot 1: the check did not finish"; }
sed 's/^HEARTH-TEST /  guest: /' "$work/report-1.txt"
ssid_hex=$(printf '%s' "$ssid" | od -An -tx1 | tr -d ' \n')
expect "/healthz answered inside the guest" "$(grep -c '^HEARTH-TEST healthz ok' "$work/report-1.txt")" 1
expect "/healthz and /v1/models (token from credentials/gateway) from the host" "$host_healthz" yes
expect "hearth.service active, no restarts" "$(val 1 hearth_active) $(val 1 restarts)" "active 0"
expect "ExecStart in the A/B layout" "$(val 1 execstart)" /opt/hearth/current/hearth
expect "current -> slot-a, /usr/local/bin/hearth" "$(val 1 current) $(val 1 bin)" "slot-a /opt/hearth/current/hearth"
expect "hearth.toml applied" "$(val 1 config_bind)" 0.0.0.0
expect "credential installed 0600 and loaded" "$(val 1 credential) $(val 1 loadcredential)" "600 1"
expect "wifi.conf applied (0600, hex SSID, derived PSK, country)" "$(val 1 wifi_conf) $(val 1 ssid_hex) $(val 1 psk_hex) $(val 1 country)" "600 $ssid_hex 1 DE"
expect "no Wi-Fi passphrase on the Pi" "$(val 1 plaintext)" 0
expect "hostname applied" "$(val 1 hostname)" hearth-test
expect "first-boot files removed from the FAT partition (guest)" "$(sed -n 's/^HEARTH-TEST fat_left=//p' "$work/report-1.txt" | tr -d ' ')" ""
left=$(mdir -b -i "$fat" ::/ 2>/dev/null | tr -d '\r' | sed -e 's|^::/||' -e 's|/$||' | grep -xE 'hearth\.toml|wifi\.conf|hostname|credentials|authorized_keys' | tr '\n' ' ' || true)
expect "first-boot files removed from the FAT partition (host)" "$left" ""
mtype -i "$fat" ::hearth-setup.log | grep -q "$passphrase\|$token" && { echo "  FAIL hearth-setup.log contains a secret"; fails=$((fails + 1)); }
expect "ssh off (enabled, active, port 22, host keys, root keys)" "$(val 1 ssh_enabled) $(val 1 ssh_active) $(val 1 port22) $(val 1 hostkeys) $(val 1 root_keys)" "disabled inactive no 0 0"
rootfs_bytes=$(val 1 rootfs_bytes)
expect "root fs grown to the disk" "$([ "${rootfs_bytes:-0}" -gt "$root_part_bytes" ] && echo yes || echo "no: $rootfs_bytes <= $root_part_bytes")" yes
expect "machine id generated" "$(val 1 machine_id)" 33
expect "models owned by hearth, state dir 0700" "$(val 1 models_owner) $(sed -n 's/^HEARTH-TEST .*state_owner=\(.*\)$/\1/p' "$work/report-1.txt")" "hearth hearth 700"
expect "no failed units" "$(sed -n 's/^HEARTH-TEST failed_units=//p' "$work/report-1.txt" | tr -d ' ')" ""
timeline1=$(sed -n 's/^HEARTH-TEST timeline //p' "$work/report-1.txt")
healthz1=$healthz_ms boot1_s=$boot_s rss1=$(val 1 idle_rss_kb) hwm1=$(val 1 idle_hwm_kb) cg1=$(val 1 cgroup_mem)

if [ "$boots" = 2 ]; then
  echo "== boot 2: authorized_keys on the FAT partition switches ssh on"
  ssh-keygen -q -t ed25519 -N '' -C hearth-image-test -f "$work/id_test"
  cp "$work/id_test.pub" "$work/authorized_keys"
  mcopy -i "$fat" "$work/authorized_keys" ::/
  ssh_login=""
  boot 2
  grep -q '^HEARTH-TEST done' "$work/report-2.txt" || { tail -n 80 "$work/serial-2.log" >&2; die "boot 2: the check did not finish"; }
  sed 's/^HEARTH-TEST /  guest: /' "$work/report-2.txt"
  expect "/healthz answered inside the guest" "$(grep -c '^HEARTH-TEST healthz ok' "$work/report-2.txt")" 1
  expect "ssh on (enabled, active, port 22, host keys, root keys)" "$(val 2 ssh_enabled) $(val 2 ssh_active) $(val 2 port22) $(val 2 hostkeys) $(val 2 root_keys)" "enabled active yes 3 1"
  expect "ssh login with the key from the host" "$ssh_login" yes
  expect "authorized_keys removed from the FAT partition" "$(sed -n 's/^HEARTH-TEST fat_left=//p' "$work/report-2.txt" | tr -d ' ')" ""
  expect "settings of boot 1 kept" "$(val 2 hostname) $(val 2 config_bind)" "hearth-test 0.0.0.0"
  expect "no failed units" "$(sed -n 's/^HEARTH-TEST failed_units=//p' "$work/report-2.txt" | tr -d ' ')" ""
  healthz2=$healthz_ms rss2=$(val 2 idle_rss_kb)
  expect "real systemd: the watchdog restarts a wedged gateway, which comes back" "$(val 2 wd_ok)" yes
  expect "real systemd: hearth-rollback.service skipped (no previous slot) after the watchdog restart" "$(val 2 rollback_unit_after_watchdog)" "success/no"
  expect "real systemd: update killed after the switch (rc, slot, previous)" "$(val 2 update_rc) $(val 2 switched_to) $(val 2 previous_then)" "137 slot-b slot-a"
  expect "real systemd: OnFailure= ran hearth-rollback.service, which succeeded" "$(val 2 rollback_ran) $(val 2 rollback_status)" "yes 0"
  expect "real systemd: back on slot-a, running it, healthy" "$(val 2 rb_current) $(val 2 rb_previous) $(val 2 rb_hearth) $(val 2 rb_exe) $(val 2 rb_healthz)" "slot-a none active slot-a ok"
  expect "real systemd: the rollback recorded in update status" "$([ "$(val 2 recorded)" -ge 1 ] && echo yes || echo "no ($(val 2 recorded))")" yes
  expect "no failed units after the watchdog and rollback runs" "$(sed -n 's/^HEARTH-TEST failed_units_end=//p' "$work/report-2.txt" | tr -d ' ')" ""
fi

echo "== figures"
echo "image:                     ${img##*/}"
echo "size uncompressed:         $size_raw bytes ($((size_raw / 1048576)) MiB)"
echo "size compressed (.img.xz): $size_xz bytes$([ "$size_xz" = "?" ] || echo " ($((size_xz / 1048576)) MiB)")"
echo "qemu start -> /healthz:    boot 1 (first boot) ${healthz1} ms; whole boot 1 incl. checks and poweroff ${boot1_s} s"
[ "$boots" = 1 ] || echo "                           boot 2 ${healthz2} ms"
echo "guest timeline, boot 1 (s since kernel start): $timeline1"
echo "  (qemu-system-aarch64 TCG, -M virt -cpu cortex-a72 -smp 2 -m 1024 on $(nproc) shared host cores; indicative only)"
echo "gateway idle RSS (guest):  VmRSS ${rss1} kB (VmHWM ${hwm1} kB, cgroup memory.current ${cg1} B), 15 s after /healthz, boot 1$([ "$boots" = 1 ] || echo "; boot 2 VmRSS ${rss2} kB")"
[ "$fails" = 0 ] || die "$fails check(s) failed"
echo "PASS"
}

main "$@"
