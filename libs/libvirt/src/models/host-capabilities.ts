import { VirtType } from './domain-spec';

export interface HostCapabilities {
  adapter: 'libvirt' | 'qemu-direct';
  hostname: string;
  cpus: number;
  memoryMiB: number;
  /** Domain types that really work on this host (kvm only when /dev/kvm passed a probe). */
  virtTypes: VirtType[];
  /** What `virtType: auto` resolves to. */
  defaultVirtType: VirtType;
  /** e.g. `7.2.22` */
  qemuVersion: string;
  /** e.g. `9.0.0`; undefined for qemu-direct. */
  libvirtVersion?: string;
  machines: string[];
}
