export type VirtType = 'kvm' | 'qemu';
export type MachineType = 'q35' | 'pc';
export type BootDevice = 'hd' | 'cdrom' | 'network';

export interface DiskSpec {
  /** Absolute path of the image (qcow2 unless `format` says otherwise). */
  path: string;
  format?: 'qcow2' | 'raw';
}

export type NetworkSpec =
  /** virtio-net attached to a libvirt network (libvirt adapter) or a host bridge name (qemu-direct). */
  | { mode: 'network'; network: string; mac?: string }
  /** QEMU user-mode networking (slirp): no host setup needed. */
  | { mode: 'user'; mac?: string }
  | { mode: 'none' };

export interface KernelBootSpec {
  kernelPath: string;
  initrdPath?: string;
  cmdline?: string;
}

/**
 * Everything needed to define a LIMEN domain. User-supplied strings (title, description) are
 * data only: adapters escape them and never derive names or paths from them.
 */
export interface DomainSpec {
  /** LIMEN VM id (a UUID). The domain name is derived from it: `limen-<vmId>`. */
  vmId: string;
  ownerId: string;
  /** The user's display name for the VM. */
  title?: string;
  description?: string;
  vcpus: number;
  /** Upper bound for live vCPU hot-plug; defaults to `vcpus`. */
  maxVcpus?: number;
  memoryMiB: number;
  /** Upper bound for live memory (balloon) changes; defaults to `memoryMiB`. */
  maxMemoryMiB?: number;
  /** Defaults to the adapter's configured virt type (auto-detected). */
  virtType?: VirtType;
  machine?: MachineType;
  /** Virtio disks, in order (vda, vdb, ...). */
  disks: DiskSpec[];
  /** A SATA CD-ROM drive, optionally with media inserted. */
  cdrom?: { isoPath?: string };
  /** A cloud-init style seed ISO, attached read-only as a second SATA CD-ROM. */
  seedIsoPath?: string;
  network?: NetworkSpec;
  /** VNC on a unix socket the adapter chooses (see getVncEndpoint); never on a TCP port. */
  vnc?: { enabled: boolean; password?: string };
  /**
   * File receiving everything the guest writes to its first serial port. Must live in a folder
   * QEMU (user libvirt-qemu under libvirt) can traverse.
   */
  serialLogPath: string;
  /** Direct kernel boot instead of firmware boot from disk or CD. */
  kernel?: KernelBootSpec;
  /** Firmware boot order; ignored with direct kernel boot. Default: ['hd']. */
  bootOrder?: BootDevice[];
}
