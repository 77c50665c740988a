#!/usr/bin/env bash
# Builds LIMEN's tiny test guest from Debian packages:
#   OUT_DIR/vmlinuz     Debian's cloud kernel (from linux-image-cloud-amd64's dependency)
#   OUT_DIR/initrd.img  busybox-static + test/fixtures/guest/init.sh as /init (gzip newc cpio)
#   OUT_DIR/cmdline     kernel command line for direct kernel boot
# The guest prints LIMEN-GUEST-READY on ttyS0 and stays up; an ACPI power-button press powers
# it off. With limen.probe=HOST:PORT,... on its command line it also probes TCP targets over
# virtio-net (see init.sh). The api's image scanner treats exactly this layout as a "kernel" image.
# OUT_DIR defaults to /var/lib/limen/test-guest: QEMU runs as libvirt-qemu and must be able to
# traverse it, which a repo clone under /root usually does not allow.
# Idempotent: returns at once when OUT_DIR already holds a build of the same init and kernel.
set -euo pipefail

OUT_DIR="${1:-/var/lib/limen/test-guest}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
INIT_SRC="$REPO_ROOT/test/fixtures/guest/init.sh"
CMDLINE="console=ttyS0 panic=-1 quiet loglevel=1"

log() { printf '[build-test-guest] %s\n' "$*" >&2; }

kernel_package() {
  apt-cache depends linux-image-cloud-amd64 2>/dev/null \
    | awk '/Depends: linux-image-[0-9].*-cloud-amd64/ {print $2; exit}'
}

pkg="$(kernel_package || true)"
if [ -z "$pkg" ]; then
  # A fresh machine may have no package lists yet.
  log "refreshing apt package lists"
  apt-get update -qq
  pkg="$(kernel_package)"
fi
[ -n "$pkg" ] || { log "cannot resolve the kernel package of linux-image-cloud-amd64"; exit 1; }
command -v busybox >/dev/null || { log "busybox missing: run scripts/setup-host.sh"; exit 1; }

stamp="$pkg $(sha256sum "$INIT_SRC" | cut -d' ' -f1) $(sha256sum "$(command -v busybox)" | cut -d' ' -f1) $CMDLINE"
if [ -f "$OUT_DIR/.build-stamp" ] && [ "$(cat "$OUT_DIR/.build-stamp")" = "$stamp" ] \
   && [ -s "$OUT_DIR/vmlinuz" ] && [ -s "$OUT_DIR/initrd.img" ] && [ -s "$OUT_DIR/cmdline" ]; then
  log "up to date in $OUT_DIR"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"   # apt's _apt sandbox user must be able to write the download here

log "downloading $pkg"
if ! (cd "$work" && apt-get download -qq "$pkg" 2>/dev/null); then
  # Stale lists can point at a version the mirror no longer serves.
  apt-get update -qq
  (cd "$work" && apt-get download -qq "$pkg")
fi
dpkg-deb -x "$work"/"$pkg"_*.deb "$work/kernel"

kver="${pkg#linux-image-}"
moddir="$work/kernel/lib/modules/$kver/kernel"

root="$work/initramfs"
mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
cp "$(command -v busybox)" "$root/bin/busybox"
install -m 0755 "$INIT_SRC" "$root/init"
# evdev and button: the ACPI power button. The virtio and failover modules: virtio-net, which
# init.sh loads only in its opt-in network probe mode (limen.probe=...).
for mod in drivers/input/evdev.ko drivers/acpi/button.ko \
           drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_pci_legacy_dev.ko \
           drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci.ko \
           net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko; do
  src="$moddir/$mod"
  # Debian may compress modules; the busybox insmod in the guest needs them plain.
  if [ -f "$src.xz" ]; then xz -dc "$src.xz" >"$root/lib/modules/$(basename "$mod")"
  elif [ -f "$src" ]; then cp "$src" "$root/lib/modules/"
  else log "warning: $mod not found; ACPI shutdown or the network probe will not work"; fi
done

mkdir -p "$OUT_DIR"
chmod 0755 "$OUT_DIR"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -9) >"$OUT_DIR/initrd.img.tmp"
install -m 0644 "$work/kernel/boot/vmlinuz-$kver" "$OUT_DIR/vmlinuz.tmp"
printf '%s\n' "$CMDLINE" >"$OUT_DIR/cmdline.tmp"
chmod 0644 "$OUT_DIR/initrd.img.tmp" "$OUT_DIR/cmdline.tmp"
# Rename last so a half-finished build is never mistaken for a complete one.
mv "$OUT_DIR/vmlinuz.tmp" "$OUT_DIR/vmlinuz"
mv "$OUT_DIR/initrd.img.tmp" "$OUT_DIR/initrd.img"
mv "$OUT_DIR/cmdline.tmp" "$OUT_DIR/cmdline"
printf '%s' "$stamp" >"$OUT_DIR/.build-stamp"
log "built $pkg guest in $OUT_DIR"
