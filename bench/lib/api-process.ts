import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hypervisorSandbox, KERNEL_IMAGE_NAME } from '../../test/support/hypervisor';
import { freePort } from '../../test/support/agent-process';

const MAIN = join(__dirname, '..', '..', 'dist', 'apps', 'api', 'main.js');
const ADMIN_PASSWORD = 'bench-admin-password';
const READY_TIMEOUT_MS = 120_000;

export interface BenchApi {
  base: string;
  /** The admin's access token, for clients other than `call` (SSE, autocannon). */
  accessToken: string;
  imageId: string;
  vmDir: string;
  /** The api's IMAGE_DIR (a bench may add images, then POST /api/v1/images/rescan). */
  imageDir: string;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; location: string | null }>;
  /** Waits for the operation behind a 202's Location to end; throws unless it succeeded. */
  settle(location: string | null): Promise<void>;
  stop(): Promise<void>;
}

/** The built api (npm run build) on embedded PostgreSQL with private VM and image folders. */
export async function startBenchApi(extraEnv: Record<string, string> = {}): Promise<BenchApi> {
  const sandbox = hypervisorSandbox();
  const dataDir = mkdtempSync(join(tmpdir(), 'limen-bench-'));
  const port = await freePort();
  // BENCH_NODE_FLAGS: node flags for the api while investigating (e.g. `--require <memory logger>`
  // or `--max-semi-space-size=32`); unset for the figures in docs/benchmarks.md.
  const child: ChildProcess = spawn(
    process.execPath,
    [...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean), MAIN],
    {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...sandbox.env,
        DATA_DIR: dataDir,
        PORT: String(port),
        LOG_LEVEL: 'warn',
        ADMIN_PASSWORD,
        RATE_LIMIT_PER_MINUTE: '1000000',
        DEFAULT_QUOTA_VMS: '1000',
        DEFAULT_QUOTA_VCPUS: '1000',
        DEFAULT_QUOTA_MEMORY_MIB: '1000000',
        DEFAULT_QUOTA_DISK_GIB: '10000',
        ...extraEnv,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const base = `http://127.0.0.1:${port}`;
  // A deadline, not a count of tries: a readiness check can itself take seconds (the hypervisor
  // probe). An api that never gets ready is killed, so a failed bench leaves no process behind.
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (
      await fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(10_000) }).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (Date.now() > deadline || child.exitCode !== null) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
      sandbox.cleanup();
      throw new Error(
        `the api did not become ready within ${READY_TIMEOUT_MS / 1000} s (is libvirtd up? \`virsh -c qemu:///system version\`)`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const login = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
  });
  const { accessToken } = (await login.json()) as { accessToken: string };
  const call: BenchApi['call'] = async (method, path, body) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${accessToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text,
      location: res.headers.get('location'),
    };
  };
  const images = await call('GET', '/api/v1/images');
  const imageId = images.body.items.find((i: { name: string }) => i.name === KERNEL_IMAGE_NAME).id;
  return {
    base,
    accessToken,
    imageId,
    vmDir: sandbox.vmDir,
    imageDir: sandbox.imageDir,
    call,
    settle: async (location) => {
      const op = await call('GET', `${location}/wait?timeout=60`);
      if (op.body.status !== 'succeeded')
        throw new Error(`operation ${op.body.kind} ended ${op.body.status}: ${JSON.stringify(op.body.error)}`);
    },
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
      sandbox.cleanup();
    },
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
