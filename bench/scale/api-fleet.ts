/**
 * Built api processes (dist/apps/api/main.js) on one PostgreSQL database, as replicas of one
 * installation: same database, JWT secret, hypervisor folders and storage pool names. Every
 * process started here is killed at cleanup.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/support/agent-process';
import { hypervisorSandbox } from '../../test/support/hypervisor';
import { log, onCleanup, sleep } from './common';

const MAIN = join(__dirname, '..', '..', 'dist', 'apps', 'api', 'main.js');
export const ADMIN_PASSWORD = 'scale-admin-password';
const READY_TIMEOUT_MS = 120_000;

export interface Replica {
  base: string;
  pid: number;
  child: ChildProcess;
  /** Lines the api wrote on stdout (its JSON log at LOG_LEVEL), with the time they arrived. */
  output: Array<{ at: number; line: string }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface Fleet {
  env: Record<string, string>;
  start(extraEnv?: Record<string, string>): Promise<Replica>;
}

/** One installation's shared settings; `start` adds a replica. */
export function apiFleet(databaseUrl: string, env: Record<string, string> = {}): Fleet {
  const sandbox = hypervisorSandbox();
  onCleanup('hypervisor sandbox', () => sandbox.cleanup());
  const shared = {
    ...sandbox.env,
    DATABASE_URL: databaseUrl,
    JWT_SECRET: 'scale-bench-jwt-secret-'.padEnd(48, 'x'),
    LOG_LEVEL: 'warn',
    ADMIN_PASSWORD,
    RATE_LIMIT_PER_MINUTE: '1000000',
    AUTH_RATE_LIMIT_PER_MINUTE: '100000',
    // Domain-less seeded rows must not turn `missing` mid-measurement; curves that want the sweep set it.
    RECONCILE_INTERVAL_SECONDS: '86400',
    ...env,
  };
  return { env: shared, start: (extraEnv = {}) => startReplica({ ...shared, ...extraEnv }) };
}

async function startReplica(env: Record<string, string>): Promise<Replica> {
  const dataDir = mkdtempSync(join(tmpdir(), 'limen-scale-'));
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, DATA_DIR: dataDir, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const output: Replica['output'] = [];
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    const at = performance.now();
    for (const line of lines) output.push({ at, line });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  };
  onCleanup(`api ${child.pid}`, () => kill('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const ready = await fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(10_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      await kill('SIGKILL');
      throw new Error(`api replica did not become ready within ${READY_TIMEOUT_MS / 1000} s`);
    }
    await sleep(250);
  }
  log(`api replica ${child.pid} ready on ${base}`);
  return { base, pid: child.pid!, child, output, kill };
}

/** An access token for `username`. */
export async function login(base: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 200) throw new Error(`login of ${username} answered ${res.status}`);
  return ((await res.json()) as { accessToken: string }).accessToken;
}

/** Creates an active user through the api (as the admin) and returns their id and token. */
export async function createUser(
  base: string,
  adminToken: string,
  username: string,
): Promise<{ id: string; token: string }> {
  const password = `${username}-password-1234`;
  const res = await fetch(`${base}/api/v1/users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ username, password, role: 'user', status: 'active' }),
  });
  if (res.status !== 201) throw new Error(`creating user ${username} answered ${res.status}: ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  return { id, token: await login(base, username, password) };
}
