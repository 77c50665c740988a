import { readFile } from 'node:fs/promises';

/** PID from a QEMU pidfile, or undefined when there is none. */
export async function readPid(pidFile: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is still the QEMU we launched: alive, and its command line names our QMP
 * socket. A stale pidfile after a host reboot can point at an unrelated process.
 */
export async function isOurQemu(pid: number, qmpSocket: string): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(qmpSocket)) return false;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 3 (after the parenthesised name) is the state; Z is a zombie that already exited.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** CPU time (user+system) of a process in nanoseconds, from /proc. */
export async function processCpuTimeNs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of /proc/pid/stat, i.e. 11 and 12 after the state.
  const ticks = Number(fields[11]) + Number(fields[12]);
  const ticksPerSecond = 100; // USER_HZ is 100 on every Linux ABI Node supports
  return (ticks / ticksPerSecond) * 1e9;
}

export async function processRssKiB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return match ? Number(match[1]) : undefined;
}
