import { DomainState } from './domain-state';

export interface BlockStats {
  /** Disk target (vda, sda...). */
  name: string;
  path?: string;
  readBytes: number;
  writeBytes: number;
  readRequests: number;
  writeRequests: number;
  capacityBytes?: number;
  allocationBytes?: number;
}

export interface NetStats {
  /** Host-side interface name. */
  name: string;
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
  rxErrors: number;
  txErrors: number;
  rxDrops: number;
  txDrops: number;
}

export interface DomainStats {
  name: string;
  vmId?: string;
  state: DomainState;
  /** Total guest CPU time in nanoseconds (0 when stopped). */
  cpuTimeNs: number;
  vcpus: number;
  memory: {
    /** Current memory allocation (balloon target) in KiB. */
    currentKiB: number;
    maxKiB: number;
    /** What the balloon driver reports, when the guest runs one. */
    availableKiB?: number;
    unusedKiB?: number;
    /** Resident set size of the QEMU process. */
    rssKiB?: number;
  };
  block: BlockStats[];
  net: NetStats[];
  collectedAt: Date;
}
