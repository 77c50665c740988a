import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hypervisorSandbox } from './support/hypervisor';
import { freePort } from './support/agent-process';

/**
 * The built artifact (dist/apps/api/main.js) as an operator runs it: start-up,
 * configuration errors, the bootstrap admin, migrations and graceful shutdown.
 * It always uses the embedded database: that is the path the quick start takes.
 */
const MAIN = join(__dirname, '..', 'dist', 'apps', 'api', 'main.js');

interface Running {
  child: ChildProcess;
  output: () => string;
  base: string;
}

const sandbox = hypervisorSandbox();
afterAll(() => sandbox.cleanup());

/** Environment for the child: nothing inherited but PATH/HOME (and private hypervisor folders), so only what a test sets applies. */
function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...sandbox.env, ...extra };
}

async function start(extra: Record<string, string>): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN], {
    env: env({ PORT: String(port), ...extra }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (chunk) => (text += chunk));
  child.stderr!.on('data', (chunk) => (text += chunk));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`api exited early: ${text}`);
    const ok = await fetch(`${base}/health/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { child, output: () => text, base };
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill('SIGKILL');
  throw new Error(`api not ready within 60 s: ${text}`);
}

function stop(running: Running): Promise<number | null> {
  return new Promise((resolve) => {
    if (running.child.exitCode !== null) return resolve(running.child.exitCode);
    running.child.once('exit', (code) => resolve(code));
    running.child.kill('SIGTERM');
  });
}

describe('the built api process (e2e)', () => {
  beforeAll(() => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
  });

  it('refuses a bad configuration with one clear line naming the variable', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ PORT: 'eighty' }, /PORT must be an integer/],
      [{ REGISTRATION: 'sometimes' }, /REGISTRATION must be one of closed\|approval\|open/],
      [
        { NODE_ENV: 'production', DATABASE_URL: 'postgres://x@127.0.0.1/db' },
        /JWT_SECRET is required when NODE_ENV=production/,
      ],
      [{ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40) }, /DATABASE_URL is required when NODE_ENV=production/],
      [{ JWT_SECRET: 'short' }, /JWT_SECRET must be at least 32 characters/],
      [{ DATABASE_URL: 'mysql://nope' }, /DATABASE_URL must be a postgres/],
      [{ ADMIN_PASSWORD: 'short' }, /ADMIN_PASSWORD must be at least 12 characters/],
    ];
    const dataDir = mkdtempSync(join(tmpdir(), 'limen-proc-'));
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
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts on embedded PostgreSQL, logs a generated admin password once, keeps it and the JWT secret across restarts', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'limen-proc-'));
    try {
      const first = await start({ DATA_DIR: dataDir, LOG_LEVEL: 'info' });
      const match = /generated password: (\S+)/.exec(first.output());
      expect(match).not.toBeNull();
      const password = match![1];
      const loginRes = await fetch(`${first.base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'proc-login-1' },
        body: JSON.stringify({ username: 'admin', password }),
      });
      expect(loginRes.status).toBe(200);
      const { accessToken } = (await loginRes.json()) as { accessToken: string };
      expect((await fetch(`${first.base}/docs`)).status).toBe(200);
      // Every request's log line carries its request id; secrets never appear.
      const logLines = first
        .output()
        .split('\n')
        .filter((l) => l.includes('proc-login-1'));
      expect(logLines.length).toBeGreaterThan(0);
      expect(first.output()).not.toContain(accessToken);
      expect(await stop(first)).toBe(0);

      const second = await start({ DATA_DIR: dataDir, LOG_LEVEL: 'info', ADMIN_PASSWORD: 'an-attempt-to-reset-it' });
      expect(second.output()).not.toMatch(/generated password/);
      // The old token still verifies (same persisted secret), and the old password still works.
      expect(
        (await fetch(`${second.base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${accessToken}` } })).status,
      ).toBe(200);
      const again = await fetch(`${second.base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password }),
      });
      expect(again.status).toBe(200);
      const reset = await fetch(`${second.base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: 'an-attempt-to-reset-it' }),
      });
      expect(reset.status).toBe(401);
      expect(await stop(second)).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('listens on loopback only by default (and starts with an empty IMAGE_DIR)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'limen-proc-'));
    const running = await start({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', IMAGE_DIR: join(dataDir, 'no-images-yet') });
    try {
      const port = new URL(running.base).port;
      const listening = spawnSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).stdout;
      expect(listening).toContain(`127.0.0.1:${port}`);
      expect(listening).not.toMatch(new RegExp(`(0\\.0\\.0\\.0|\\*|\\[::\\]):${port}`));
    } finally {
      await stop(running);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('answers 503 with details while the embedded database is down, and recovers without an api restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'limen-proc-'));
    const running = await start({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', ADMIN_PASSWORD: 'db-loss-test-password' });
    try {
      const dbPid = spawnSync('pgrep', ['-P', String(running.child.pid), '-f', 'server.cjs'], {
        encoding: 'utf8',
      }).stdout.trim();
      expect(dbPid).toMatch(/^\d+$/);
      process.kill(Number(dbPid), 'SIGKILL');
      await new Promise((r) => setTimeout(r, 300));
      const ready = await fetch(`${running.base}/health/ready`);
      expect(ready.status).toBe(503);
      const problem = (await ready.json()) as { code: string; checks: { database: { status: string } } };
      expect(problem.checks.database.status).toBe('down');
      const login = await fetch(`${running.base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: 'db-loss-test-password' }),
      });
      expect(login.status).toBe(503);
      expect(((await login.json()) as { code: string }).code).toBe('DATABASE_UNAVAILABLE');
      let recovered = false;
      for (let i = 0; i < 60 && !recovered; i++) {
        await new Promise((r) => setTimeout(r, 500));
        recovered = (await fetch(`${running.base}/health/ready`)).status === 200;
      }
      expect(recovered).toBe(true);
      const again = await fetch(`${running.base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: 'db-loss-test-password' }),
      });
      expect(again.status).toBe(200);
    } finally {
      await stop(running);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('runs migrations on demand with `main.js migrate`', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'limen-proc-'));
    const first = spawnSync(process.execPath, [MAIN, 'migrate'], {
      env: env({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' }),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/Applied [1-9]\d* migration/);
    const second = spawnSync(process.execPath, [MAIN, 'migrate'], {
      env: env({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' }),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(second.stdout).toMatch(/Applied 0 migration/);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('drains an in-flight request on SIGTERM, then exits 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'limen-proc-'));
    const running = await start({ DATA_DIR: dataDir, LOG_LEVEL: 'warn', ADMIN_PASSWORD: 'drain-test-password' });
    try {
      // A login costs an argon2 verify (tens of ms): signal while it is in flight.
      const inFlight = fetch(`${running.base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: 'drain-test-password' }),
      });
      await new Promise((r) => setTimeout(r, 5));
      const exited = stop(running);
      const response = await inFlight;
      expect(response.status).toBe(200);
      expect(await exited).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
