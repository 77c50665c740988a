import { readdir } from 'node:fs/promises';
import { hostname, loadavg, uptime } from 'node:os';
import * as si from 'systeminformation';
import { DiskMetrics, HostMetrics, NetworkInterfaceMetrics } from '@limen/agent-contract';
import { QemuProcessScanner } from '../qemu/qemu-process-scanner';

/** Takes one sample of the host. The seam the sample cache and its unit tests use. */
export interface HostSampler {
  sample(): Promise<HostMetrics>;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function percent(part: number, whole: number): number {
  return whole > 0 ? round((part / whole) * 100) : 0;
}

/**
 * Samples the real host: CPU, memory, disks and network through systeminformation, load,
 * uptime and host name from node:os (the same kernel counters, without spawning anything),
 * and QEMU processes from /proc. systeminformation computes CPU load and network rates as
 * deltas against its previous call, so `prime()` should run once before serving.
 */
export class SystemHostSampler implements HostSampler {
  constructor(private readonly qemu = new QemuProcessScanner()) {}

  /** Takes a throw-away sample so the first real one has a previous reading to diff against. */
  async prime(): Promise<void> {
    await this.sample();
  }

  async sample(): Promise<HostMetrics> {
    const [load, mem, disks, network, vms] = await Promise.all([
      si.currentLoad(),
      si.mem(),
      this.disks(),
      this.network(),
      this.qemu.scan(),
    ]);
    const [one, five, fifteen] = loadavg();
    const usedBytes = mem.total - mem.available;
    return {
      sampledAt: new Date().toISOString(),
      hostname: hostname(),
      uptimeSeconds: Math.round(uptime()),
      cpu: {
        percent: round(load.currentLoad),
        cores: load.cpus.map((cpu, core) => ({ core, percent: round(cpu.load) })),
      },
      load: { one: round(one), five: round(five), fifteen: round(fifteen) },
      memory: {
        totalBytes: mem.total,
        usedBytes,
        availableBytes: mem.available,
        percent: percent(usedBytes, mem.total),
      },
      swap: { totalBytes: mem.swaptotal, usedBytes: mem.swapused, freeBytes: mem.swapfree },
      disks,
      network,
      vms,
    };
  }

  private async disks(): Promise<DiskMetrics[]> {
    const sizes = await si.fsSize();
    return sizes.map((fs) => ({
      mount: fs.mount,
      filesystem: fs.fs,
      type: fs.type,
      sizeBytes: fs.size,
      usedBytes: fs.used,
      availableBytes: fs.available,
      percent: round(fs.use),
    }));
  }

  /**
   * Every interface in /sys/class/net, including address-less ones (bridges, VM taps) that
   * os.networkInterfaces() omits. Named explicitly because networkStats('*') would first run
   * networkInterfaces(), which shells out to nmcli, ethtool and friends on every call.
   */
  private async network(): Promise<NetworkInterfaceMetrics[]> {
    const names = (await readdir('/sys/class/net')).sort();
    if (names.length === 0) return [];
    const stats = await si.networkStats(names.join(','));
    return stats.map((s) => ({
      iface: s.iface,
      operstate: s.operstate,
      rxBytes: s.rx_bytes,
      txBytes: s.tx_bytes,
      rxBytesPerSecond: s.rx_sec === null || s.rx_sec < 0 ? null : round(s.rx_sec),
      txBytesPerSecond: s.tx_sec === null || s.tx_sec < 0 ? null : round(s.tx_sec),
    }));
  }
}
