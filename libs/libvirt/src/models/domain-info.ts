import type { DomainNicInfo, GuestAgentState } from './network';
import { DomainState, ShutoffReason } from './domain-state';
import { BootDevice, DiskBus, MachineType, VirtType } from './domain-spec';

export interface DomainDiskInfo {
  target: string;
  device: 'disk' | 'cdrom';
  /** Empty for a CD-ROM drive without media. */
  path?: string;
  format?: string;
  readonly: boolean;
  /** True for the seed ISO drive (removed by undefine when asked). */
  seed: boolean;
  /** LIMEN disk id, from the device alias `ua-disk-<id>` (disks LIMEN added with an id). */
  id?: string;
  /** The bus of a disk (not of a CD-ROM drive). */
  bus?: DiskBus;
  serial?: string;
}

export interface DomainInfo {
  /** `limen-<vmId>` for LIMEN domains. */
  name: string;
  uuid: string;
  /** From LIMEN metadata; undefined for domains LIMEN did not create. */
  vmId?: string;
  ownerId?: string;
  title?: string;
  description?: string;
  state: DomainState;
  /** Why it is shut off, when the state is `shutoff` and the hypervisor tells (libvirt does; `crashed` after a QEMU death). */
  shutoffReason?: ShutoffReason;
  persistent: boolean;
  vcpus: number;
  maxVcpus: number;
  memoryMiB: number;
  maxMemoryMiB: number;
  virtType: VirtType;
  machine?: MachineType | string;
  disks: DomainDiskInfo[];
  /** MAC of the first NIC. */
  mac?: string;
  nics: DomainNicInfo[];
  /** From the live definition while running (libvirt reports the channel's state); `absent` without a channel. */
  guestAgent: GuestAgentState;
  serialLogPath?: string;
  vncEnabled: boolean;
  /**
   * Firmware boot order of the definition shown (the live one while the domain runs under
   * libvirt). Undefined with direct kernel boot, where the firmware boot order does not apply.
   */
  bootOrder?: BootDevice[];
}
