import AxeBuilder from '@axe-core/playwright';
import { expect, test as base, type APIRequestContext, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from '../support/agent-process';
import { hypervisorSandbox, virsh } from '../support/hypervisor';

export const ADMIN = { username: 'web-admin', password: 'web-admin-password-for-tests' };
const MAIN = join(__dirname, '..', '..', 'dist', 'apps', 'api', 'main.js');
const SERVER = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

async function query<T>(sql: string, database = SERVER): Promise<T[]> {
  const client = new Client({ connectionString: database });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

export interface Api {
  base: string;
  /** The api's own output, for a failure's message. */
  output: () => string;
}

/**
 * The built api with its web build (`npm run build`), on a fresh PostgreSQL database and private
 * libvirt pools, as one worker-scoped fixture: started once, stopped (its domains, pools and
 * database removed) when the worker ends. `extraEnv` adds or overrides settings (PORT included:
 * a suite that must know the address before the api starts picks it with freePort).
 */
export async function startApi(
  extraEnv: Record<string, string> = {},
): Promise<{ api: Api; stop: () => Promise<void> }> {
  if (!existsSync(join(__dirname, '..', '..', 'dist', 'web', 'index.html')))
    throw new Error('dist/web is missing: run `npm run build` first');
  const name = `limen_web_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await query(`CREATE DATABASE ${name}`);
  const url = new URL(SERVER);
  url.pathname = `/${name}`;
  const sandbox = hypervisorSandbox();
  const dataDir = mkdtempSync(join(tmpdir(), 'limen-web-'));
  const port = Number(extraEnv.PORT ?? (await freePort()));
  const child: ChildProcess = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...sandbox.env,
      DATA_DIR: dataDir,
      DATABASE_URL: url.toString(),
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      REGISTRATION: 'approval',
      LOG_LEVEL: 'warn',
      RECONCILE_INTERVAL_SECONDS: '2',
      AUTOSTART_MAX_ATTEMPTS: '0',
      ALERT_EVAL_INTERVAL_SECONDS: '1',
      RATE_LIMIT_PER_MINUTE: '100000',
      AUTH_RATE_LIMIT_PER_MINUTE: '100000',
      ...extraEnv,
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (chunk) => (text += chunk));
  child.stderr!.on('data', (chunk) => (text += chunk));
  const base = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    // Domains of VMs a failed test left behind (the database says which are this api's).
    for (const { id } of await query<{ id: string }>('SELECT id FROM vms', url.toString()).catch(() => [])) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`, '--snapshots-metadata');
    }
    sandbox.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
    await query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the api exited: ${text.slice(-2000)}`);
    const ready = await fetch(`${base}/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the api was not ready within 120 s: ${text.slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { api: { base, output: () => text }, stop };
}

export const test = base.extend<{ baseURL: string }, { api: Api }>({
  api: [
    // eslint-disable-next-line no-empty-pattern
    async ({}, use) => {
      const { api, stop } = await startApi();
      try {
        await use(api);
      } finally {
        await stop();
      }
    },
    { scope: 'worker', timeout: 180_000 },
  ],
  baseURL: async ({ api }, use) => use(api.base),
});
export { expect };

/** axe-core on the page as it is: no serious or critical violation (WCAG 2 A and AA rules). */
export async function expectAccessible(page: Page, screen: string): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(bad, `axe on ${screen}`).toEqual([]);
}

export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto('/signin');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Virtual machines' })).toBeVisible();
}

/** An admin's access token through the api itself (for set-up that has no screen yet). */
export async function adminToken(request: APIRequestContext): Promise<string> {
  const res = await request.post('/api/v1/auth/login', { data: ADMIN });
  expect(res.status()).toBe(200);
  return (await res.json()).accessToken;
}
