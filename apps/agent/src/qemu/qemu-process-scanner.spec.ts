import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseProcStat, parseVmRssBytes } from './proc-stat';
import { QemuProcessScanner } from './qemu-process-scanner';

/** A /proc-shaped directory: the scanner reads the same files it reads on a real host. */
class ProcTree {
  readonly root = mkdtempSync(join(tmpdir(), 'limen-proc-'));

  uptime(seconds: number): void {
    writeFileSync(join(this.root, 'uptime'), `${seconds.toFixed(2)} 1234.56\n`);
  }

  process(
    pid: number,
    argv: string[],
    p: { cpuTicks: number; startTicks: number; rssKb: number; comm?: string },
  ): void {
    const dir = join(this.root, String(pid));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'cmdline'), argv.join('\0') + '\0');
    const fields = [
      'S',
      '1',
      String(pid),
      String(pid),
      '0',
      '-1',
      '4194560',
      '100',
      '0',
      '0',
      '0',
      String(p.cpuTicks - 10),
      '10',
      '0',
      '0',
      '20',
      '0',
      '3',
      '0',
      String(p.startTicks),
      '1177112576',
      '8000',
    ];
    writeFileSync(join(dir, 'stat'), `${pid} (${p.comm ?? 'qemu-system-x86'}) ${fields.join(' ')}\n`);
    writeFileSync(join(dir, 'status'), `Name:\tqemu-system-x86\nVmPeak:\t 1177112 kB\nVmRSS:\t ${p.rssKb} kB\n`);
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

describe('/proc parsing', () => {
  it('counts stat fields from the last ")" so odd command names cannot shift them', () => {
    const text = '42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 9000 1177112576 8000\n';
    expect(parseProcStat(text)).toEqual({ cpuTicks: 300, startTicks: 9000 });
    expect(parseProcStat('garbage')).toBeNull();
  });

  it('reads VmRSS in bytes and yields null without it (kernel threads)', () => {
    expect(parseVmRssBytes('Name:\tx\nVmRSS:\t   2048 kB\n')).toBe(2048 * 1024);
    expect(parseVmRssBytes('Name:\tkthreadd\n')).toBeNull();
  });
});

describe('QemuProcessScanner', () => {
  let proc: ProcTree;
  beforeEach(() => (proc = new ProcTree()));
  afterEach(() => proc.remove());

  it('finds QEMU processes only, maps them, and measures CPU between scans', async () => {
    // Started 100 s after boot, 50 s of CPU by 200 s: a 50 % lifetime average.
    proc.uptime(200);
    proc.process(101, ['/usr/bin/qemu-system-x86_64', '-name', 'guest=limen-vm-1,debug-threads=on'], {
      cpuTicks: 5000,
      startTicks: 10_000,
      rssKb: 300_000,
    });
    proc.process(102, ['/usr/bin/node', 'qemu-system-x86_64', '-name', 'limen-vm-9'], {
      cpuTicks: 1,
      startTicks: 1,
      rssKb: 1,
      comm: 'node',
    });
    proc.process(103, ['/usr/bin/qemu-system-x86_64', '-name', 'other-guest'], {
      cpuTicks: 0,
      startTicks: 19_000,
      rssKb: 1000,
    });
    const scanner = new QemuProcessScanner(proc.root);

    expect(await scanner.scan()).toEqual([
      { domain: 'limen-vm-1', vmId: 'vm-1', pid: 101, cpuPercent: 50, rssBytes: 300_000 * 1024 },
      { domain: 'other-guest', vmId: null, pid: 103, cpuPercent: 0, rssBytes: 1000 * 1024 },
    ]);

    // 10 s later the guest used 15 s of CPU: 150 % of one core (two busy vCPUs).
    proc.uptime(210);
    proc.process(101, ['/usr/bin/qemu-system-x86_64', '-name', 'guest=limen-vm-1,debug-threads=on'], {
      cpuTicks: 6500,
      startTicks: 10_000,
      rssKb: 310_000,
    });
    const [vm] = await scanner.scan();
    expect(vm).toMatchObject({ pid: 101, cpuPercent: 150, rssBytes: 310_000 * 1024 });
  });

  it('does not diff against a previous process that had the same pid', async () => {
    proc.uptime(200);
    proc.process(101, ['qemu-system-x86_64', '-name', 'limen-a'], { cpuTicks: 5000, startTicks: 10_000, rssKb: 1 });
    const scanner = new QemuProcessScanner(proc.root);
    await scanner.scan();
    // pid 101 was reused by a new VM started at 205 s; 1 s of CPU in its 5 s of life is 20 %.
    proc.uptime(210);
    proc.process(101, ['qemu-system-x86_64', '-name', 'limen-b'], { cpuTicks: 100, startTicks: 20_500, rssKb: 1 });
    const [vm] = await scanner.scan();
    expect(vm).toMatchObject({ domain: 'limen-b', cpuPercent: 20 });
  });

  it('skips a process that vanished between listing and reading', async () => {
    proc.uptime(10);
    mkdirSync(join(proc.root, '555'));
    expect(await new QemuProcessScanner(proc.root).scan()).toEqual([]);
  });
});
