#!/usr/bin/env bash
# A second libvirtd on this machine that stands in for a remote hypervisor host whose storage the
# api cannot see (issue 15's acceptance: test/remote-host.e2e-spec.ts, bench/storage.bench.ts).
#
#   scripts/remote-libvirtd.sh start  <port>            start it; prints its URI and pool folder
#   scripts/remote-libvirtd.sh status <port>            exit 0 when it answers, 3 when not running
#   scripts/remote-libvirtd.sh exec   <port> CMD [ARG…] run CMD inside its mount namespace
#   scripts/remote-libvirtd.sh stop   <port>            destroy its guests, end its processes
#
# It runs (with its own virtlogd) in a private mount namespace (unshare -m) whose tmpfs mounts
# hide this machine's /run/libvirt (/var/run is a symlink to /run), /var/lib/libvirt,
# /var/cache/libvirt, /etc/libvirt and /var/lib/limen, and give it fresh ones:
#   - its sockets, domain state, configuration and capability cache are its own, so the primary
#     libvirtd (qemu:///system, scripts/setup-host.sh) and its guests are untouched;
#   - its pool folder, /var/lib/limen/remote-<port>, exists only inside the namespace: a process
#     outside (the api) cannot read or write it, and a guest there cannot open the api's
#     VM_DIR/IMAGE_DIR (under /var/lib/limen) either. Volumes reach it only through libvirt.
# The network namespace is shared: it answers at qemu+tcp://127.0.0.1:<port>/system.
#
# !!! TESTS ONLY. Its TCP socket has NO authentication and NO encryption (auth_tcp = "none"):
# !!! whoever reaches the port is root on this machine. It listens on 127.0.0.1 only. A real
# !!! remote host is reached over qemu+ssh:// or qemu+tls:// (docs/operations.md).
#
# `stop` ends exactly the processes of that namespace (matched by /proc/<pid>/ns/mnt), never
# by name: other suites use the primary libvirtd at the same time. Needs root (mounts, daemons).
set -euo pipefail

log() { printf '[remote-libvirtd] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

usage() { die "usage: $0 start|stop|status <port> | exec <port> CMD [ARG...]"; }

[ $# -ge 2 ] || usage
action="$1"
port="$2"
shift 2
[[ "$port" =~ ^[0-9]{1,5}$ ]] && [ "$port" -ge 1024 ] && [ "$port" -le 65535 ] || die "port must be 1024-65535"
[ "$(id -u)" -eq 0 ] || die "must run as root (mount namespace, daemons)"

state="/run/limen-remote-libvirtd/$port"
uri="qemu+tcp://127.0.0.1:$port/system"
pool_dir="/var/lib/limen/remote-$port"
# The guests' disks live in RAM (tmpfs): a cap so a runaway test cannot eat the machine.
pool_size="${REMOTE_LIBVIRTD_POOL_SIZE:-8g}"

# The pid of this instance's libvirtd when it is alive (the file outlives a killed daemon).
daemon_pid() {
  local pid
  pid="$(cat "$state/libvirtd.pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = libvirtd ] || return 1
  [ "$(readlink "/proc/$pid/ns/mnt")" = "$(cat "$state/mntns" 2>/dev/null)" ] || return 1
  echo "$pid"
}

answers() { virsh -c "$uri" version >/dev/null 2>&1; }

# Every process whose mount namespace is the one recorded at start: libvirtd, virtlogd, QEMU.
# One find over /proc (a readlink per process would cost seconds).
namespace_pids() {
  local ns
  ns="$(cat "$state/mntns" 2>/dev/null)" || return 0
  [ -n "$ns" ] || return 0
  # find fails on processes that end while it walks: their entries are simply not listed.
  { find /proc -mindepth 3 -maxdepth 3 -path '/proc/[0-9]*/ns/mnt' -printf '%l %h\n' 2>/dev/null || true; } |
    awk -v ns="$ns" '$1 == ns { split($2, path, "/"); print path[3] }'
}

# Runs inside the new namespace (unshare re-executes this script): private mounts, then daemons.
inside() {
  # unshare --propagation private made every mount private: nothing below leaks back out.
  mount -t tmpfs -o mode=0755 limen-remote-run /run/libvirt
  mount -t tmpfs -o mode=0755 limen-remote-lib /var/lib/libvirt
  # Debian's package owns these to QEMU's user; libvirtd creates its subfolders itself.
  install -d -o libvirt-qemu -g libvirt-qemu -m 0750 /var/lib/libvirt/qemu
  install -d -m 0711 /var/lib/libvirt/images /var/lib/libvirt/boot
  mount -t tmpfs -o mode=0711 limen-remote-cache /var/cache/libvirt
  mount -t tmpfs -o mode=0755 limen-remote-etc /etc/libvirt
  cp -a "$state/etc/." /etc/libvirt/
  # QEMU's own logs (what virtlogd writes) land in the state folder, readable when a boot fails.
  mount --bind "$state/log" /var/log/libvirt
  # 0755: QEMU (libvirt-qemu) traverses it to the pool; libvirt creates the pool folder itself.
  mount -t tmpfs -o "mode=0755,size=$pool_size" limen-remote-pool /var/lib/limen
  readlink /proc/self/ns/mnt >"$state/mntns"
  virtlogd -d -f /etc/libvirt/virtlogd.conf -p "$state/virtlogd.pid"
  libvirtd -d -l -f /etc/libvirt/libvirtd.conf -p "$state/libvirtd.pid"
}

# Its /etc/libvirt: the machine's driver configuration (qemu.conf: QEMU's user, security driver),
# none of its domains or networks, and a libvirtd.conf that listens on loopback TCP.
prepare_config() {
  local etc="$state/etc"
  mkdir -p "$etc/qemu/networks/autostart" "$state/log/qemu"
  cp -a /etc/libvirt/qemu.conf /etc/libvirt/virtlogd.conf /etc/libvirt/libvirt.conf "$etc/"
  [ -d /etc/libvirt/nwfilter ] && cp -a /etc/libvirt/nwfilter "$etc/"
  install -d -m 0700 "$etc/secrets"
  cat >"$etc/libvirtd.conf" <<EOF
# Written by scripts/remote-libvirtd.sh. TESTS ONLY: TCP without authentication or encryption
# on 127.0.0.1 (whoever reaches the port is root here). Production: qemu+ssh or qemu+tls.
listen_tls = 0
listen_tcp = 1
listen_addr = "127.0.0.1"
tcp_port = "$port"
auth_tcp = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
}

start() {
  if pid="$(daemon_pid)"; then
    log "already running (pid $pid) at $uri"
  else
    # A port already taken (by anything) would only show up as a libvirtd that exits at once.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "127.0.0.1:$port is already in use"; fi
    [ -d /var/lib/limen ] || install -d -m 0755 /var/lib/limen
    # What is left of an instance whose libvirtd died (its QEMU, virtlogd) goes first.
    [ -d "$state" ] && stop
    mkdir -p "$state"
    prepare_config
    unshare -m --propagation private bash "$0" _inside "$port"
  fi
  # libvirtd forks before it opens its sockets and probes QEMU on first start: poll.
  for _ in $(seq 1 240); do
    if answers; then
      pid="$(daemon_pid)" || die "libvirtd answers at $uri but is not the one started here"
      # The pool folder is made by libvirt (pool-build) on first use; only its parent exists.
      log "libvirtd (pid $pid) answers at $uri; pool folder $pool_dir (inside its namespace only)"
      printf '{"uri":"%s","pid":%d,"poolDir":"%s","stateDir":"%s"}\n' "$uri" "$pid" "$pool_dir" "$state"
      return 0
    fi
    daemon_pid >/dev/null || { [ -f "$state/libvirtd.pid" ] && break; }
    sleep 0.5
  done
  log "libvirtd did not answer at $uri within 120 s; its log:"
  tail -n 30 "$state/log/libvirtd.log" >&2 2>/dev/null || true
  stop
  exit 1
}

stop() {
  if [ ! -d "$state" ]; then
    log "not running at $uri"
    return 0
  fi
  # Guests first, through libvirt, so it tears down their cgroups and sockets as usual.
  if daemon_pid >/dev/null && answers; then
    local domain
    while read -r domain; do
      [ -n "$domain" ] || continue
      virsh -c "$uri" destroy "$domain" >/dev/null 2>&1 || true
      virsh -c "$uri" undefine "$domain" --snapshots-metadata --nvram >/dev/null 2>&1 ||
        virsh -c "$uri" undefine "$domain" >/dev/null 2>&1 || true
    done < <(virsh -c "$uri" list --all --name 2>/dev/null)
  fi
  # Then every process left in the namespace; the namespace and its tmpfs go with the last one.
  local pids
  pids="$(namespace_pids)"
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 1 40); do
      pids="$(namespace_pids)"
      [ -z "$pids" ] && break
      sleep 0.25
    done
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null || true
      sleep 0.5
    fi
  fi
  [ -z "$(namespace_pids)" ] || die "processes of $uri survived SIGKILL: $(namespace_pids | tr '\n' ' ')"
  rm -rf "$state"
  log "stopped $uri"
}

status() {
  local pid
  if ! pid="$(daemon_pid)"; then
    log "not running at $uri"
    exit 3
  fi
  answers || die "libvirtd (pid $pid) does not answer at $uri"
  printf '{"uri":"%s","pid":%d,"poolDir":"%s","stateDir":"%s"}\n' "$uri" "$pid" "$pool_dir" "$state"
}

case "$action" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  exec)
    [ $# -ge 1 ] || usage
    pid="$(daemon_pid)" || die "not running at $uri"
    exec nsenter -t "$pid" -m -- "$@"
    ;;
  _inside) inside ;;
  *) usage ;;
esac
