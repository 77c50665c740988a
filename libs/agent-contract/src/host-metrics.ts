/**
 * The JSON body of `GET /metrics`: one sample of the host. This interface is the
 * documented schema; the api's AgentClient reads exactly these fields.
 * Byte counts are bytes, percentages are 0-100 (a VM's CPU can exceed 100: see below).
 */
export interface HostMetrics {
  /** When the sample was taken (ISO 8601, UTC). Scrapes within the cache TTL share it. */
  sampledAt: string;
  hostname: string;
  uptimeSeconds: number;
  cpu: {
    /** Busy share of all cores since the previous sample. */
    percent: number;
    cores: CoreMetrics[];
  };
  /** The kernel's run-queue load averages over 1, 5 and 15 minutes. */
  load: { one: number; five: number; fifteen: number };
  memory: {
    totalBytes: number;
    /** total − available: memory the kernel cannot hand out without swapping (page cache excluded). */
    usedBytes: number;
    /** MemAvailable: what new work could use without swapping. */
    availableBytes: number;
    percent: number;
  };
  swap: { totalBytes: number; usedBytes: number; freeBytes: number };
  disks: DiskMetrics[];
  network: NetworkInterfaceMetrics[];
  /** Every running QEMU process; `vmId` is null for domains LIMEN did not create. */
  vms: VmProcessMetrics[];
}

export interface CoreMetrics {
  core: number;
  percent: number;
}

export interface DiskMetrics {
  mount: string;
  /** The device or source, e.g. /dev/vda1. */
  filesystem: string;
  type: string;
  sizeBytes: number;
  usedBytes: number;
  availableBytes: number;
  percent: number;
}

export interface NetworkInterfaceMetrics {
  iface: string;
  /** The kernel's operstate: up, down, unknown (loopback and some virtual links), ... */
  operstate: string;
  rxBytes: number;
  txBytes: number;
  /** Rates since the previous sample; null until the interface has been seen twice. */
  rxBytesPerSecond: number | null;
  txBytesPerSecond: number | null;
}

export interface VmProcessMetrics {
  /** The QEMU `-name` guest name, e.g. limen-<uuid>; null if QEMU was started without one. */
  domain: string | null;
  /** The LIMEN VM id (the part after "limen-"), null for foreign domains. */
  vmId: string | null;
  pid: number;
  /**
   * CPU time used since the previous sample, as a percentage of ONE core (like top):
   * a guest keeping 2 vCPUs busy shows about 200. For a process not seen before it is
   * the average over its lifetime.
   */
  cpuPercent: number;
  rssBytes: number;
}
