#!/usr/bin/env bash
# Builds LIMEN's real cloud test image, a Debian 12 (bookworm) disk, from Debian's packages:
#   OUT_DIR/debian-12-cloud.qcow2     compressed qcow2, 2 GiB virtual, an ordinary cloud image
#   OUT_DIR/debian-12-cloud.packages  the packages inside it ("name version" lines)
# Contents: debootstrap --variant=minbase, then linux-image-cloud-amd64, systemd, cloud-init
# (NoCloud only: datasource_list [NoCloud, None], so it never looks for a metadata server),
# openssh-server, qemu-guest-agent (started by udev when the virtio-serial port
# org.qemu.guest_agent.0 appears), ifupdown + isc-dhcp-client (what cloud-init 22.4 renders on
# bookworm, as in Debian's own bookworm cloud images), iproute2, iputils-ping, sudo, dbus and
# cloud-guest-utils (growpart: the root partition grows to fill a larger disk).
# cloud-init's default user is `debian` (passwordless sudo, SSH keys only). The image has no SSH
# host keys: cloud-init generates them on each new instance, so every clone gets its own.
# Boot: BIOS, an MBR disk with syslinux. Partition 1 is a 64 MiB FAT16 partition (active) with
# syslinux, Debian's cloud kernel and a small initramfs (MODULES=list: virtio_pci, virtio_blk,
# virtio_scsi, sd_mod; ext4 is built into the kernel);
# partition 2, the last one, is the ext4 root. The kernel command line has console=ttyS0, so the
# serial log shows the boot. syslinux waits for nothing (TIMEOUT 0). The kernel on the FAT
# partition is the one built in: kernel upgrades inside a guest do not reach it.
# The kernel has no SATA (AHCI) driver: attach the cloud-init seed on virtio-scsi or virtio-blk.
# No loop device or mount is needed: mkfs.ext4 -d fills the root file system from a folder,
# mtools fills the FAT one, and both are written into the disk file at their offsets.
# OUT_DIR defaults to /var/lib/limen/cloud-image (0755, so libvirt-qemu can traverse it).
# Idempotent: returns at once when OUT_DIR holds a build of this script with the same versions
# of the packages that matter (as the host's apt lists see them). Needs root, debootstrap,
# syslinux, mtools, dosfstools, fdisk and qemu-utils (scripts/setup-host.sh installs them) and
# the Debian mirror in the host's apt sources (MIRROR=... overrides it).
set -euo pipefail

OUT_DIR="${1:-/var/lib/limen/cloud-image}"
IMAGE="debian-12-cloud.qcow2"
SUITE="bookworm"
DISK_MIB=2048
BOOT_MIB=64
SCRIPT="$(readlink -f "${BASH_SOURCE[0]}")"
PACKAGES=(linux-image-cloud-amd64 systemd-sysv udev dbus cloud-init cloud-guest-utils openssh-server
          qemu-guest-agent ifupdown isc-dhcp-client iproute2 iputils-ping sudo e2fsprogs netbase)
# The packages whose versions decide whether a cached image is stale.
STAMP_PACKAGES=(linux-image-cloud-amd64 cloud-init openssh-server qemu-guest-agent systemd initramfs-tools ifupdown)
# Masked, not just disabled: systemd applies presets on a first boot (empty machine-id).
MASKED_UNITS=(apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service
              fstrim.timer dpkg-db-backup.timer)

log() { printf '[build-cloud-image] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap and chroot)"
for tool in debootstrap syslinux mcopy mmd mkfs.fat sfdisk mkfs.ext4 qemu-img; do
  command -v "$tool" >/dev/null || die "$tool missing: run scripts/setup-host.sh"
done
MBR_BIN=/usr/lib/syslinux/mbr/mbr.bin
[ -f "$MBR_BIN" ] || die "$MBR_BIN missing: run scripts/setup-host.sh"

# The first URI of the host's apt sources that serves SUITE (deb822 .sources or one-line lists).
mirror_for() {
  local suite="$1"
  {
    awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
      /(^|\n)Types:[^\n]*deb([ \t\n]|$)/ {
        uri = ""; ok = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { split($i, u, /[ \t]+/); uri = u[2] }
          if ($i ~ /^Suites:/) { n = split($i, w, /[ \t]+/); for (j = 2; j <= n; j++) if (w[j] == s) ok = 1 }
        }
        if (ok && uri != "") print uri
      }' /etc/apt/sources.list.d/*.sources 2>/dev/null
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | sed -E 's/\[[^]]*\]//' | awk -v s="$suite" '$1 == "deb" && $3 == s { print $2 }'
  } | head -n 1 || true   # missing source files are fine
}

MIRROR="${MIRROR:-$(mirror_for "$SUITE")}"
SECURITY_MIRROR="${SECURITY_MIRROR:-$(mirror_for "$SUITE-security")}"
[ -n "$MIRROR" ] || die "no Debian mirror for $SUITE in /etc/apt/sources*; set MIRROR=http://..."

# One apt-cache call (each costs seconds on a busy machine): "package=candidate" for each. The
# linux-image-cloud-amd64 metapackage is built with the kernel, so its version follows it.
candidates() {
  apt-cache policy "${STAMP_PACKAGES[@]}" 2>/dev/null \
    | awk '/^[^ ].*:$/ { pkg = substr($0, 1, length($0) - 1) } /^  Candidate:/ { printf " %s=%s", pkg, $2 }'
}
# Complete when every package has a candidate (apt says nothing of a package it does not know).
complete() { [ "$(wc -w <<<"$1")" -eq "${#STAMP_PACKAGES[@]}" ] && [[ "$1" != *"=(none)"* ]]; }
versions="$(candidates)"
if ! complete "$versions"; then
  # A fresh machine may have no package lists yet.
  log "refreshing apt package lists"
  apt-get update -qq
  versions="$(candidates)"
  complete "$versions" || die "apt has no candidate for some of ${STAMP_PACKAGES[*]}:$versions"
fi
stamp="$(sha256sum "$SCRIPT" | cut -d' ' -f1) $SUITE $MIRROR$versions"

if [ -f "$OUT_DIR/.build-stamp" ] && [ "$(cat "$OUT_DIR/.build-stamp")" = "$stamp" ] && [ -s "$OUT_DIR/$IMAGE" ]; then
  log "up to date in $OUT_DIR"
  exit 0
fi

started=$SECONDS
work="$(mktemp -d /var/tmp/limen-cloud-image.XXXXXX)"
root="$work/root"
unmount_all() {
  # Deepest first; the chroot's proc, sys and devpts must be gone before anything is deleted.
  local mnt
  for mnt in $(awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$mnt" 2>/dev/null || true
  done
}
cleanup() { unmount_all; rm -rf --one-file-system "$work"; rm -f "$OUT_DIR/.$IMAGE.tmp"; }
trap cleanup EXIT
chmod 0755 "$work"

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "$@"; }

log "debootstrap $SUITE (minbase) from $MIRROR"
debootstrap --variant=minbase --arch=amd64 --components=main "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"

# Build-time settings, removed at the end: no daemon starts in the chroot, no fsync, no recommends.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/limen-build-unsafe-io"
printf 'APT::Install-Recommends "false";\nAcquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/99limen-build"
# Kept in the image: no documentation, man pages or translations (the image stays small).
cat >"$root/etc/dpkg/dpkg.cfg.d/limen-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
{
  echo "deb $MIRROR $SUITE main"
  echo "deb $MIRROR $SUITE-updates main"
  [ -z "$SECURITY_MIRROR" ] || echo "deb $SECURITY_MIRROR $SUITE-security main"
} >"$root/etc/apt/sources.list"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"

log "installing packages"
in_root apt-get update -qq
# initramfs-tools first, so the kernel's initramfs is built once, with this configuration.
in_root apt-get install -y -qq initramfs-tools zstd >"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log" >&2; die "apt-get failed"; }
printf 'MODULES=list\nCOMPRESS=zstd\n' >"$root/etc/initramfs-tools/conf.d/limen.conf"
# ext4 and crc32c are built into the cloud kernel; the root disk may be on virtio-blk or virtio-scsi.
printf '%s\n' virtio_pci virtio_blk virtio_scsi sd_mod >>"$root/etc/initramfs-tools/modules"
in_root apt-get install -y -qq "${PACKAGES[@]}" >>"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log" >&2; die "apt-get failed"; }

log "configuring"
cat >"$root/etc/cloud/cloud.cfg.d/01_limen.cfg" <<'EOF'
# LIMEN's test image: the NoCloud seed (a cidata ISO or disk) only, never a metadata server.
datasource_list: [NoCloud, None]
manage_etc_hosts: true
# C.UTF-8 is built into glibc: nothing to generate (the locales package is not installed).
locale: C.UTF-8
grub_dpkg:
  enabled: false
# Host keys: ed25519 and ecdsa only. An RSA-3072 key takes 5 s or more to generate under TCG,
# and every OpenSSH client of the last ten years takes ed25519.
ssh_genkeytypes: [ed25519, ecdsa]
# Printing host key fingerprints to the console costs about 10 s under TCG.
ssh:
  emit_keys_to_console: false
no_ssh_fingerprints: true
system_info:
  default_user:
    name: debian
    gecos: Debian
    lock_passwd: true
    groups: [adm, sudo]
    sudo: ["ALL=(ALL) NOPASSWD:ALL"]
    shell: /bin/bash
EOF
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\nHostKey /etc/ssh/ssh_host_ecdsa_key\n' >"$root/etc/ssh/sshd_config.d/limen-host-keys.conf"
# Already the locale cloud-init applies, so its locale module has nothing to run (5 s under TCG).
echo LANG=C.UTF-8 >"$root/etc/default/locale"
printf 'auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n' >"$root/etc/network/interfaces"
mkdir -p "$root/etc/network/interfaces.d"
echo debian >"$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
rootfs_uuid="$(cat /proc/sys/kernel/random/uuid)"
printf 'UUID=%s / ext4 rw,discard,errors=remount-ro 0 1\n' "$rootfs_uuid" >"$root/etc/fstab"
for unit in "${MASKED_UNITS[@]}"; do ln -sf /dev/null "$root/etc/systemd/system/$unit"; done
# qemu-guest-agent's unit is static: udev starts it when the port appears (60-qemu-guest-agent.rules).
[ -f "$root/usr/lib/udev/rules.d/60-qemu-guest-agent.rules" ] \
  || die "qemu-guest-agent's udev rule is missing; the agent would not start"
# By default it would also wait for sysinit.target, which cloud-init's network stage (DHCP, host
# keys) holds back: start it as soon as the root file system is writable instead, so the agent
# answers even while cloud-init waits for a DHCP server that never replies.
mkdir -p "$root/etc/systemd/system/qemu-guest-agent.service.d"
cat >"$root/etc/systemd/system/qemu-guest-agent.service.d/limen-early.conf" <<'EOF'
[Unit]
DefaultDependencies=no
After=systemd-remount-fs.service systemd-tmpfiles-setup.service
Before=shutdown.target
Conflicts=shutdown.target
EOF

log "cleaning"
rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/dpkg/dpkg.cfg.d/limen-build-unsafe-io" "$root/etc/apt/apt.conf.d/99limen-build"
in_root dpkg-query -W -f '${Package} ${Version}\n' >"$work/packages"
in_root apt-get clean
unmount_all
rm -f "$root"/etc/ssh/ssh_host_* "$root/etc/resolv.conf" "$root/var/lib/dbus/machine-id"
: >"$root/etc/machine-id"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/debconf/*-old \
  "$root"/var/lib/dpkg/*-old "$root"/tmp/* "$root"/var/tmp/* "$root"/var/lib/cloud/* "$root"/root/.bash_history
find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/lintian
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
find "$root/var/log" -type f -exec truncate -s 0 {} +

kver="$(basename "$(ls "$root"/boot/vmlinuz-*)")"
kver="${kver#vmlinuz-}"
[ -s "$root/boot/initrd.img-$kver" ] || die "no initramfs for $kver"

log "assembling the disk"
boot_start=2048
root_start=$((boot_start + BOOT_MIB * 2048))
root_mib=$((DISK_MIB - 1 - BOOT_MIB))
cat >"$work/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT debian
PROMPT 0
TIMEOUT 0
LABEL debian
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND root=UUID=$rootfs_uuid ro console=ttyS0,115200n8
EOF
# -h: the partition's offset, which syslinux's boot sector adds to its own sector numbers.
mkfs.fat -F 16 -n LIMENBOOT -h "$boot_start" -C "$work/boot.img" $((BOOT_MIB * 1024)) >/dev/null
mmd -i "$work/boot.img" ::/syslinux
syslinux --install --directory /syslinux "$work/boot.img"
mcopy -i "$work/boot.img" "$work/syslinux.cfg" ::/syslinux/syslinux.cfg
mcopy -i "$work/boot.img" "$root/boot/vmlinuz-$kver" ::/vmlinuz
mcopy -i "$work/boot.img" "$root/boot/initrd.img-$kver" ::/initrd.img
# A fresh file system written from the folder: its free space is a hole, so nothing to zero.
mkfs.ext4 -q -F -L root -U "$rootfs_uuid" -m 1 -d "$root" "$work/root.img" "${root_mib}M" >/dev/null

truncate -s "${DISK_MIB}M" "$work/disk.raw"
sfdisk -q "$work/disk.raw" <<EOF
label: dos
start=$boot_start, size=$((BOOT_MIB * 2048)), type=e, bootable
start=$root_start, type=83
EOF
dd if="$MBR_BIN" of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$work/boot.img" of="$work/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$work/root.img" of="$work/disk.raw" bs=1M seek=$((1 + BOOT_MIB)) conv=notrunc,sparse status=none

log "compressing"
mkdir -p "$OUT_DIR"
chmod 0755 "$OUT_DIR"
qemu-img convert -c -f raw -O qcow2 "$work/disk.raw" "$OUT_DIR/.$IMAGE.tmp"
chmod 0644 "$OUT_DIR/.$IMAGE.tmp"
install -m 0644 "$work/packages" "$OUT_DIR/debian-12-cloud.packages"
rm -f "$OUT_DIR/.build-stamp"
# Rename last so a half-finished build is never mistaken for a complete one.
mv "$OUT_DIR/.$IMAGE.tmp" "$OUT_DIR/$IMAGE"
printf '%s' "$stamp" >"$OUT_DIR/.build-stamp"
log "built $OUT_DIR/$IMAGE (linux-image-$kver, $(du -m "$OUT_DIR/$IMAGE" | cut -f1) MiB) in $((SECONDS - started)) s"
