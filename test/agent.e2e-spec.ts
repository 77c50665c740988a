import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostMetrics } from '@limen/agent-contract';
import { freePort } from './support/agent-process';

/**
 * The built agent (dist/apps/agent/main.js) as an operator runs it, against the real host:
 * /proc, systeminformation, a real QEMU process when the emulator is installed.
 */
const MAIN = join(__dirname, '..', 'dist', 'apps', 'agent', 'main.js');
const QEMU = '/usr/bin/qemu-system-x86_64';
const TOKEN = 'e2e-agent-token-' + randomUUID();
const RSS_BUDGET_BYTES = 80 * 1024 * 1024;

/** Nothing inherited but PATH/HOME, so only what a test sets applies. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

interface Running {
  child: ChildProcess;
  base: string;
  port: number;
  output: () => string;
}

async function start(extra: Record<string, string>): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN], {
    env: env({ AGENT_PORT: String(port), LOG_LEVEL: 'warn', ...extra }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (chunk) => (text += chunk));
  child.stderr!.on('data', (chunk) => (text += chunk));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`agent exited early: ${text}`);
    if (
      await fetch(`${base}/health`).then(
        (r) => r.status === 200,
        () => false,
      )
    )
      return { child, base, port, output: () => text };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`agent not ready within 20 s: ${text}`);
}

function stop(running: Running): Promise<number | null> {
  return new Promise((resolve) => {
    if (running.child.exitCode !== null) return resolve(running.child.exitCode);
    running.child.once('exit', (code) => resolve(code));
    running.child.kill('SIGTERM');
  });
}

function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) * 1024;
}

const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

describe('the built agent process (e2e)', () => {
  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
  });

  it('refuses a bad configuration with one clear line naming the variable', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'limen-agent-'));
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ AGENT_PORT: 'ninety' }, /AGENT_PORT must be an integer/],
      [{ NODE_ENV: 'production' }, /AGENT_TOKEN is required when NODE_ENV=production/],
      [{ AGENT_TOKEN: 'short' }, /AGENT_TOKEN must be at least 16 characters/],
      [{ LOG_LEVEL: 'chatty' }, /LOG_LEVEL must be one of/],
    ];
    try {
      for (const [vars, message] of cases) {
        const result = spawnSync(process.execPath, [MAIN], {
          env: env({ DATA_DIR: dataDir, ...vars }),
          encoding: 'utf8',
          timeout: 20_000,
        });
        expect(result.status).toBe(1);
        const lines = result.stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(message);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  describe('with AGENT_TOKEN set', () => {
    let agent: Running;
    beforeAll(async () => (agent = await start({ AGENT_TOKEN: TOKEN, NODE_ENV: 'production' })));
    afterAll(async () => {
      if (agent) await stop(agent);
    });
    const auth = () => ({ authorization: `Bearer ${TOKEN}` });

    it('answers /health without auth and listens on loopback only', async () => {
      const res = await fetch(`${agent.base}/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: 'ok' });
      const listening = spawnSync('ss', ['-Hltn', `sport = :${agent.port}`], { encoding: 'utf8' }).stdout;
      expect(listening).toContain(`127.0.0.1:${agent.port}`);
      expect(listening).not.toMatch(new RegExp(`(0\\.0\\.0\\.0|\\*|\\[::\\]):${agent.port}`));
    });

    it('answers 401 problem+json without a token or with a wrong one, 200 with the right one', async () => {
      for (const path of ['/metrics', '/metrics/prometheus']) {
        const rejected: Array<Record<string, string>> = [
          {},
          { authorization: 'Bearer wrong-token-wrong-token' },
          { authorization: `Bearer ${TOKEN}x` },
          { authorization: TOKEN },
        ];
        for (const headers of rejected) {
          const res = await fetch(`${agent.base}${path}`, { headers });
          expect(res.status).toBe(401);
          expect(res.headers.get('content-type')).toBe('application/problem+json');
          expect(await res.json()).toMatchObject({ status: 401, code: 'UNAUTHENTICATED', instance: path });
        }
        expect((await fetch(`${agent.base}${path}`, { headers: auth() })).status).toBe(200);
      }
    });

    it('reports memory total equal to /proc/meminfo MemTotal within 1%, and a plausible host', async () => {
      const metrics = (await (await fetch(`${agent.base}/metrics`, { headers: auth() })).json()) as HostMetrics;
      const memTotalBytes = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;
      const deviation = Math.abs(metrics.memory.totalBytes - memTotalBytes) / memTotalBytes;
      process.stdout.write(
        `[agent e2e] memory.totalBytes=${metrics.memory.totalBytes} /proc/meminfo MemTotal=${memTotalBytes} deviation=${(deviation * 100).toFixed(4)}%\n`,
      );
      expect(deviation).toBeLessThanOrEqual(0.01);

      expect(metrics.hostname).toBe(readFileSync('/proc/sys/kernel/hostname', 'utf8').trim());
      expect(metrics.cpu.cores).toHaveLength(Number(spawnSync('nproc', ['--all'], { encoding: 'utf8' }).stdout.trim()));
      expect(metrics.cpu.percent).toBeGreaterThanOrEqual(0);
      expect(metrics.cpu.percent).toBeLessThanOrEqual(100);
      expect(metrics.memory.usedBytes + metrics.memory.availableBytes).toBe(metrics.memory.totalBytes);
      expect(metrics.disks.find((d) => d.mount === '/')?.sizeBytes).toBeGreaterThan(0);
      const lo = metrics.network.find((n) => n.iface === 'lo')!;
      expect(lo.rxBytes).toBeGreaterThan(0);
      // Primed at start-up, so even the first scrape has rates.
      expect(typeof lo.rxBytesPerSecond).toBe('number');
      expect(metrics.uptimeSeconds).toBeGreaterThan(0);
      expect(Array.isArray(metrics.vms)).toBe(true);
    });

    it('exposes the host series in the Prometheus text format', async () => {
      const res = await fetch(`${agent.base}/metrics/prometheus`, { headers: auth() });
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      for (const series of [
        'limen_host_cpu_percent ',
        'limen_host_cpu_core_percent{core="0"}',
        'limen_host_load_average{period="1m"}',
        'limen_host_memory_bytes{kind="total"}',
        'limen_host_memory_bytes{kind="available"}',
        'limen_host_swap_bytes{kind="total"}',
        'limen_host_disk_bytes{mount="/",kind="used"}',
        'limen_host_network_bytes_total{iface="lo",direction="rx"}',
        'limen_host_uptime_seconds ',
      ]) {
        expect(text).toContain(series);
      }
    });

    it('answers 20 parallel scrapes with 200, and stays within 80 MB RSS idle and after 50 scrapes', async () => {
      const idle = rssBytes(agent.child.pid!);
      const parallel = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          fetch(`${agent.base}${i % 2 ? '/metrics' : '/metrics/prometheus'}`, { headers: auth() }),
        ),
      );
      expect(parallel.map((r) => r.status)).toEqual(Array(20).fill(200));
      await Promise.all(parallel.map((r) => r.text()));
      // Spread over more than one TTL, so several real samples are taken, not one cached answer.
      for (let i = 0; i < 50; i++) {
        const res = await fetch(`${agent.base}${i % 2 ? '/metrics' : '/metrics/prometheus'}`, { headers: auth() });
        expect(res.status).toBe(200);
        await res.text();
        if (i % 10 === 9) await new Promise((r) => setTimeout(r, 500));
      }
      const loaded = rssBytes(agent.child.pid!);
      process.stdout.write(
        `[agent e2e] RSS idle=${mib(idle)} MiB after 70 scrapes=${mib(loaded)} MiB (budget 80 MiB)\n`,
      );
      expect(idle).toBeLessThanOrEqual(RSS_BUDGET_BYTES);
      expect(loaded).toBeLessThanOrEqual(RSS_BUDGET_BYTES);
    });
  });

  (existsSync(QEMU) ? it : it.skip)(
    'maps a running qemu-system process named limen-<uuid> to its VM id, pid, CPU and RSS',
    async () => {
      const vmId = randomUUID();
      // An empty, paused machine: a real QEMU process with libvirt's -name form, costing almost nothing.
      const qemu = spawn(
        QEMU,
        [
          '-name',
          `guest=limen-${vmId},debug-threads=on`,
          '-machine',
          'none',
          '-nodefaults',
          '-display',
          'none',
          '-monitor',
          'none',
          '-S',
        ],
        { stdio: 'ignore' },
      );
      const agent = await start({ AGENT_TOKEN: TOKEN, AGENT_SAMPLE_TTL_MS: '0' });
      try {
        let vm: HostMetrics['vms'][number] | undefined;
        const deadline = Date.now() + 10_000;
        while (!vm && Date.now() < deadline) {
          const metrics = (await (
            await fetch(`${agent.base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
          ).json()) as HostMetrics;
          vm = metrics.vms.find((v) => v.vmId === vmId);
          if (!vm) await new Promise((r) => setTimeout(r, 200));
        }
        expect(vm).toMatchObject({ domain: `limen-${vmId}`, vmId, pid: qemu.pid });
        expect(vm!.rssBytes).toBeGreaterThan(1024 * 1024);
        expect(vm!.cpuPercent).toBeGreaterThanOrEqual(0);
        const text = await (
          await fetch(`${agent.base}/metrics/prometheus`, { headers: { authorization: `Bearer ${TOKEN}` } })
        ).text();
        expect(text).toMatch(
          new RegExp(`^limen_vm_rss_bytes\\{vm_id="${vmId}",domain="limen-${vmId}"\\} [1-9]\\d+$`, 'm'),
        );
        expect(text).toMatch(
          new RegExp(`^limen_vm_cpu_percent\\{vm_id="${vmId}",domain="limen-${vmId}"\\} [\\d.]+$`, 'm'),
        );
      } finally {
        qemu.kill('SIGKILL');
        await stop(agent);
      }
    },
  );

  it('in development without AGENT_TOKEN, generates one into DATA_DIR/agent-token (0600) and keeps it across restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'limen-agent-'));
    try {
      const first = await start({ DATA_DIR: dataDir, NODE_ENV: 'development' });
      const file = join(dataDir, 'agent-token');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const token = readFileSync(file, 'utf8').trim();
      expect(first.output()).toContain(file);
      expect(first.output()).not.toContain(token);
      expect((await fetch(`${first.base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(
        200,
      );
      expect(await stop(first)).toBe(0);

      const second = await start({ DATA_DIR: dataDir, NODE_ENV: 'development' });
      expect(readFileSync(file, 'utf8').trim()).toBe(token);
      expect((await fetch(`${second.base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(
        200,
      );
      expect(await stop(second)).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('lets an in-flight scrape finish on SIGTERM, then exits 0', async () => {
    const agent = await start({ AGENT_TOKEN: TOKEN, AGENT_SAMPLE_TTL_MS: '0' });
    // A sample takes tens of milliseconds (df, /sys counters, /proc walk): signal during one.
    const inFlight = fetch(`${agent.base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    await new Promise((r) => setTimeout(r, 5));
    const signalled = Date.now();
    const exited = stop(agent);
    expect((await inFlight).status).toBe(200);
    expect(await exited).toBe(0);
    // Keep-alive sockets are closed once their response is out, so exit does not wait for them.
    expect(Date.now() - signalled).toBeLessThan(2000);
  });
});
