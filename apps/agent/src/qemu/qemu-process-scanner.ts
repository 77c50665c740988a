import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VmProcessMetrics } from '@limen/agent-contract';
import { parseProcStat, parseVmRssBytes, ProcStat } from './proc-stat';
import { isQemuSystemBinary, qemuIdentity } from './qemu-command-line';

/**
 * Linux reports /proc CPU times in USER_HZ, which the kernel fixes at 100 for every
 * user-visible interface regardless of the internal tick rate (CONFIG_HZ).
 */
const CLOCK_TICKS_PER_SECOND = 100;

interface PreviousReading {
  startTicks: number;
  cpuTicks: number;
  atSeconds: number;
}

/**
 * Finds the QEMU processes on the host and measures each one's CPU and RSS.
 *
 * It reads /proc itself rather than systeminformation's processes(): that runs `ps` over
 * every process on the host and joins each argv with spaces, which loses the argument
 * boundaries `-name` parsing needs. /proc/<pid>/cmdline is the exact, NUL-separated argv.
 */
export class QemuProcessScanner {
  private previous = new Map<number, PreviousReading>();

  constructor(private readonly procRoot = '/proc') {}

  async scan(): Promise<VmProcessMetrics[]> {
    const uptimeSeconds = await this.uptimeSeconds();
    const pids = (await readdir(this.procRoot)).filter((entry) => /^\d+$/.test(entry)).map(Number);
    const found = await Promise.all(pids.map((pid) => this.inspect(pid, uptimeSeconds)));
    const vms = found.filter((vm): vm is VmProcessMetrics & { stat: ProcStat } => vm !== null);
    // Keep only live QEMU processes, so the map cannot grow with every VM ever run.
    this.previous = new Map(
      vms.map((vm) => [
        vm.pid,
        { startTicks: vm.stat.startTicks, cpuTicks: vm.stat.cpuTicks, atSeconds: uptimeSeconds },
      ]),
    );
    return vms.map(({ stat: _stat, ...vm }) => vm).sort((a, b) => a.pid - b.pid);
  }

  /** Seconds since boot: the clock /proc/<pid>/stat's starttime is measured on. */
  private async uptimeSeconds(): Promise<number> {
    return Number((await readFile(join(this.procRoot, 'uptime'), 'utf8')).split(' ')[0]);
  }

  private async inspect(pid: number, nowSeconds: number): Promise<(VmProcessMetrics & { stat: ProcStat }) | null> {
    const dir = join(this.procRoot, String(pid));
    try {
      const cmdline = await readFile(join(dir, 'cmdline'), 'utf8');
      const argv = cmdline.split('\0');
      if (argv[argv.length - 1] === '') argv.pop();
      if (argv.length === 0 || !isQemuSystemBinary(argv[0])) return null;
      const [statText, statusText] = await Promise.all([
        readFile(join(dir, 'stat'), 'utf8'),
        readFile(join(dir, 'status'), 'utf8'),
      ]);
      const stat = parseProcStat(statText);
      const rssBytes = parseVmRssBytes(statusText);
      if (stat === null || rssBytes === null) return null;
      return { ...qemuIdentity(argv), pid, cpuPercent: this.cpuPercent(pid, stat, nowSeconds), rssBytes, stat };
    } catch {
      // The process exited between readdir and these reads (ENOENT/ESRCH): it is simply gone.
      return null;
    }
  }

  private cpuPercent(pid: number, stat: ProcStat, nowSeconds: number): number {
    const before = this.previous.get(pid);
    const seen = before !== undefined && before.startTicks === stat.startTicks;
    const ticks = seen ? stat.cpuTicks - before.cpuTicks : stat.cpuTicks;
    const elapsed = seen ? nowSeconds - before.atSeconds : nowSeconds - stat.startTicks / CLOCK_TICKS_PER_SECOND;
    if (elapsed <= 0) return 0;
    return round((ticks / CLOCK_TICKS_PER_SECOND / elapsed) * 100);
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
