import type { NicSpec } from './network';

export type VirtType = 'kvm' | 'qemu';
export type MachineType = 'q35' | 'pc';
export type BootDevice = 'hd' | 'cdrom' | 'network';

export type DiskBus = 'virtio' | 'scsi';

export interface DiskSpec {
  /** LIMEN disk id (a UUID): the device alias `ua-disk-<id>`, so it can be unplugged or resized by id. */
  id?: string;
  /** Absolute path of the image on the host (a pool volume's path; qcow2 unless `format` says otherwise). */
  path: string;
  format?: 'qcow2' | 'raw';
  /** Default virtio. */
  bus?: DiskBus;
  /** Shown to the guest (/dev/disk/by-id/virtio-<serial>); at most 20 characters of [A-Za-z0-9-]. */
  serial?: string;
  /** Per-device boot order; only the boot disk has one. */
  bootIndex?: number;
}

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
  /** A CD-ROM drive on virtio-scsi (cloud kernels have no SATA driver), optionally with media inserted. */
  cdrom?: { isoPath?: string };
  /** A cloud-init NoCloud seed ISO, attached read-only as a second virtio-scsi CD-ROM. */
  seedIsoPath?: string;
  /**
   * The NICs, in order (at most 8). Undefined: one virtio user-mode NIC whose id is the vmId and
   * whose MAC is macAddressFor(vmId). `[]`: no NIC.
   */
  nics?: NicSpec[];
  /** Adds the `org.qemu.guest_agent.0` virtio-serial channel. Default true. */
  guestAgent?: boolean;
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
