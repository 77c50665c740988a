/** CPU accounting read from /proc/<pid>/stat. */
export interface ProcStat {
  /** utime + stime of the whole thread group, in clock ticks. */
  cpuTicks: number;
  /** When the process started, in clock ticks after boot; tells a reused pid apart. */
  startTicks: number;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may itself
 * contain spaces or ")", so fields are counted from the LAST ")".
 */
export function parseProcStat(text: string): ProcStat | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  // After ") " comes field 3 (state); utime, stime and starttime are fields 14, 15 and 22.
  const fields = text.slice(close + 2).split(' ');
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  const start = Number(fields[22 - 3]);
  if (![utime, stime, start].every(Number.isFinite)) return null;
  return { cpuTicks: utime + stime, startTicks: start };
}

/** Resident set size in bytes from /proc/<pid>/status (VmRSS is in kB); null for kernel threads. */
export function parseVmRssBytes(status: string): number | null {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : null;
}
