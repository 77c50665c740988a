#!/usr/bin/env bash
# Prepares a host for LIMEN's hypervisor tests: installs QEMU, libvirt and the tools the
# test-guest and cloud-image builders need (scripts/build-test-guest.sh, build-cloud-image.sh),
# then starts virtlogd and libvirtd without systemd (CI machines and containers have none).
# dnsmasq-base: libvirt runs it for the DHCP of nat and isolated networks ("Unable to find
# 'dnsmasq' binary" otherwise). Idempotent: re-running it on a ready host only checks and returns.
set -euo pipefail

PACKAGES=(qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients dnsmasq-base
          busybox-static genisoimage xorriso cpio jq chromium fonts-noto-cjk openssh-client
          debootstrap syslinux syslinux-common mtools dosfstools fdisk e2fsprogs)
LIBVIRT_URI="${LIBVIRT_URI:-qemu:///system}"

log() { printf '[setup-host] %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (installs packages and starts system daemons)"
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  # dpkg-query reports "install ok installed" only for fully configured packages.
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Only refresh the package lists when an install is actually needed: apt-get update is the
  # slowest step and a ready host should not pay for it.
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "packages already installed"
fi

# Without systemd nothing creates the runtime directories the daemons expect.
mkdir -p /var/run/libvirt /var/lib/limen
chmod 0755 /var/lib/limen

# Without udev nothing gives /dev/kvm its usual 0660 root:kvm either. libvirt probes QEMU with
# CAP_DAC_OVERRIDE (so it records KVM as present) but then checks /dev/kvm as the qemu user (who
# cannot open a root-only node), finds its cache stale at every lookup and re-probes QEMU
# forever: a restarted libvirtd took 40 s to 3 minutes per call here. LIMEN still picks TCG
# on nested hosts itself (libs/libvirt/src/host/kvm-probe.ts).
if [ -c /dev/kvm ] && getent group kvm >/dev/null; then
  chgrp kvm /dev/kvm
  chmod 0660 /dev/kvm
fi

# By the pid file the daemon writes by default, not by name: scripts/remote-libvirtd.sh runs more
# libvirtd and virtlogd processes (with pid files of their own) that are not this machine's.
daemon_running() {
  local pid
  pid="$(cat "/run/$1.pid" 2>/dev/null)" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]
}

if ! daemon_running virtlogd; then
  log "starting virtlogd"
  virtlogd -d
fi
if ! daemon_running libvirtd; then
  log "starting libvirtd"
  libvirtd -d
fi

# libvirtd forks before it opens its socket, so poll until it really answers.
for _ in $(seq 1 60); do
  if virsh -c "$LIBVIRT_URI" version >/dev/null 2>&1; then
    log "libvirt answers at $LIBVIRT_URI"
    exit 0
  fi
  sleep 0.5
done
log "libvirtd did not answer at $LIBVIRT_URI within 30 s"
exit 1
