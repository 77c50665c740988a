import { Test } from '@nestjs/testing';
import { NestExpressApplication } from '@nestjs/platform-express';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import request from 'supertest';
import type { App } from 'supertest/types';
import { AppModule } from '../../apps/api/src/app.module';
import { initApp } from '../../apps/api/src/app.setup';
import { loadConfig } from '../../apps/api/src/config/app-config';
import { hypervisorSandbox } from './hypervisor';
import { watchTestApp } from './response-contract';

export const ADMIN = { username: 'root-admin', password: 'admin-password-for-tests' };

/**
 * When TEST_DATABASE_URL is set (CI's real-PostgreSQL pass), each app gets a
 * fresh database on that server; otherwise it gets its own embedded PGlite.
 */
export const REAL_POSTGRES = 'postgres://root@127.0.0.1:5432/test';

async function freshDatabase(
  server = process.env.TEST_DATABASE_URL,
): Promise<{ url?: string; drop: () => Promise<void> }> {
  if (!server) return { drop: async () => undefined };
  const name = `limen_e2e_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new Client({ connectionString: server });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(server);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new Client({ connectionString: server });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** What a second app needs to start on the same data (a restart). */
export interface TestAppData {
  dataDir: string;
  databaseUrl?: string;
  sandbox: ReturnType<typeof hypervisorSandbox>;
  dropDatabase: () => Promise<void>;
}

export interface TestApp {
  app: NestExpressApplication;
  vmDir: string;
  data: TestAppData;
  http: App;
  dataDir: string;
  databaseUrl?: string;
  /** Stops the app; with `keepData` its database and folders stay for a restart. */
  close(options?: { keepData?: boolean }): Promise<void>;
}

/** Boots the real AppModule with main.ts's wiring, on a fresh database and DATA_DIR. */
/**
 * `restartOn`: start on another app's data (a restart, or a second replica).
 * `databaseServer`: a PostgreSQL server to create the fresh database on, whatever TEST_DATABASE_URL says.
 */
export async function startTestApp(
  env: Record<string, string> = {},
  restartOn?: TestAppData,
  databaseServer?: string,
): Promise<TestApp> {
  const dataDir = restartOn?.dataDir ?? mkdtempSync(join(tmpdir(), 'limen-e2e-'));
  const database = restartOn
    ? { url: restartOn.databaseUrl, drop: restartOn.dropDatabase }
    : await freshDatabase(databaseServer);
  // Every app gets private IMAGE_DIR and VM_DIR: its orphan sweep must not touch other apps' domains.
  const sandbox = restartOn?.sandbox ?? hypervisorSandbox();
  const config = loadConfig({
    ...sandbox.env,
    RECONCILE_INTERVAL_SECONDS: '2',
    // Suites destroy, undefine and kill domains out of band on purpose; only test/reliability/autostart-host-reboot.spec.ts
    // lets the sweep start them again.
    AUTOSTART_MAX_ATTEMPTS: '0',
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    AUTH_RATE_LIMIT_PER_MINUTE: '100000',
    RATE_LIMIT_PER_MINUTE: '100000',
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ...env,
  });
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(config)] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ bodyParser: false, bufferLogs: true });
  await initApp(app);
  watchTestApp(app.getHttpServer());
  return {
    app,
    vmDir: sandbox.vmDir,
    http: app.getHttpServer(),
    dataDir,
    databaseUrl: database.url,
    data: { dataDir, databaseUrl: database.url, sandbox, dropDatabase: database.drop },
    close: async (options) => {
      await app.close();
      if (options?.keepData) return;
      await database.drop();
      sandbox.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function login(
  http: App,
  username: string,
  password: string,
): Promise<{ accessToken: string; refreshToken: string }> {
  const res = await request(http).post('/api/v1/auth/login').send({ username, password }).expect(200);
  return res.body;
}

/** Creates an active user through the admin API and returns its id and tokens. */
export async function createUser(http: App, adminToken: string, username: string, role: 'user' | 'admin' = 'user') {
  const password = `${username}-password-123`;
  const created = await request(http)
    .post('/api/v1/users')
    .auth(adminToken, { type: 'bearer' })
    .send({ username, password, role })
    .expect(201);
  const tokens = await login(http, username, password);
  return { id: created.body.id as string, password, ...tokens };
}

export function expectProblem(res: request.Response, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.code }).toEqual({ status, code });
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toEqual(
    expect.objectContaining({
      type: expect.any(String),
      title: expect.any(String),
      detail: expect.any(String),
      requestId: expect.any(String),
    }),
  );
  expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(ts|js):\d+/);
}
