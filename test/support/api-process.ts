import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from './agent-process';
import { REAL_POSTGRES } from './test-app';

/** The shared PostgreSQL server of the fault suites: never stopped by them. */
export const SERVER = process.env.TEST_DATABASE_URL ?? REAL_POSTGRES;

/** The built artifact, as an operator runs it (`npm run build`). */
export const MAIN = join(__dirname, '..', '..', 'dist', 'apps', 'api', 'main.js');

/** A query straight to the server, on its default database or `url`. */
export async function onServer<T>(sql: string, params: unknown[] = [], url = SERVER): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

export async function createDatabase(): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `limen_faults_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await onServer(`CREATE DATABASE ${name}`);
  const url = new URL(SERVER);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: async () => void (await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  };
}

/** Polls `probe` until it gives a truthy value (errors count as not yet); throws after `timeoutMs`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false | null>,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface ApiProcess {
  child: ChildProcess;
  base: string;
  output: () => string;
}

/** Starts the built api with exactly `env` (plus PATH/HOME and a free PORT) and waits until it is ready. */
export async function startApiProcess(env: Record<string, string>): Promise<ApiProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (chunk) => (text += chunk));
  child.stderr!.on('data', (chunk) => (text += chunk));
  const base = `http://127.0.0.1:${port}`;
  await until(
    'the api to answer ready',
    async () => {
      if (child.exitCode !== null) throw new Error(`api exited early: ${text}`);
      return (await fetch(`${base}/health/ready`)).status === 200;
    },
    120_000,
    250,
  ).catch((error) => {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}; output: ${text.slice(-2000)}`);
  });
  return { child, base, output: () => text };
}

export function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
  );
}
