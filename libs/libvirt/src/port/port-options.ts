import { VirtTypeSetting } from '../host/virt-type-resolver';
import { LibLogger } from '../transport/logger';
import type { CommandObserver } from '../transport/virsh-pool';

export interface VirtualizationPortOptions {
  /** `libvirt` (default) talks to libvirtd; `qemu-direct` runs QEMU itself. */
  adapter?: 'libvirt' | 'qemu-direct';
  /** libvirt connection URI. Default `qemu:///system`. */
  uri?: string;
  /** Domain type for new domains. `auto` picks kvm only when KVM really works. Default `auto`. */
  virtType?: VirtTypeSetting;
  /** qemu-direct only: where domain specs, QMP sockets and pidfiles live. Default /var/lib/limen/qemu-direct. */
  stateDir?: string;
  /** Persistent virsh sessions. Default 2. */
  poolSize?: number;
  /** Commands that may wait for a busy pool before new ones are rejected with BUSY. Default 256. */
  maxQueue?: number;
  /** Per-command timeout in ms. Default 30000. */
  commandTimeoutMs?: number;
  virshPath?: string;
  qemuBinary?: string;
  /** qemu-direct only: its volumes are files it makes with qemu-img (libvirt makes its own). */
  qemuImgPath?: string;
  /** libvirt only: observes every virsh command's latency (e.g. for a Prometheus histogram). */
  onCommand?: CommandObserver;
  /** Defaults to a Nest Logger named "Virtualization" inside LibvirtModule, silent elsewhere. */
  logger?: LibLogger;
}
