import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { AgentProcess, freePort, startAgent } from './support/agent-process';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(90_000);

const TOKEN = `e2e-agent-token-${randomUUID()}`;

/** A raw GET whose path reaches the server byte for byte (no client-side normalisation). */
function rawGet(base: string, path: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const req = httpRequest(
      { host: url.hostname, port: url.port, path, method: 'GET', headers: { authorization: `Bearer ${token}` } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('agent reverse proxy and readiness (e2e, real agent process)', () => {
  let agent: AgentProcess;
  let t: TestApp;
  let base: string;
  let admin: string;
  let user: string;

  beforeAll(async () => {
    agent = await startAgent({ AGENT_TOKEN: TOKEN, NODE_ENV: 'production' });
    t = await startTestApp({ AGENT_URL: agent.url, AGENT_TOKEN: TOKEN });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    user = (await createUser(t.http, admin, 'plain-user')).accessToken;
  });
  afterAll(async () => {
    await t?.close();
    await agent?.stop();
  });

  it('shows the agent as up in /health/ready', async () => {
    const res = await request(t.http).get('/health/ready').expect(200);
    expect(res.body.status).toBe('ok');
    expect(res.body.details.agent).toEqual({ status: 'up', url: agent.url });
  });

  it('proxies GET /agent/metrics, /agent/metrics/prometheus and /agent/health to the agent for admins', async () => {
    const metrics = await request(t.http).get('/agent/metrics').auth(admin, { type: 'bearer' }).expect(200);
    expect(metrics.headers['content-type']).toMatch(/^application\/json/);
    expect(metrics.body.memory.totalBytes).toBeGreaterThan(0);
    expect(metrics.body.disks.length).toBeGreaterThan(0);
    // The api's request id travels to the agent and back.
    const traced = await request(t.http)
      .get('/agent/metrics')
      .set('X-Request-Id', 'proxy-trace-1')
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(traced.headers['x-request-id']).toBe('proxy-trace-1');

    const prometheus = await request(t.http)
      .get('/agent/metrics/prometheus')
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(prometheus.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(prometheus.text).toContain('limen_host_memory_bytes{kind="total"}');

    expect((await request(t.http).get('/agent/health').auth(admin, { type: 'bearer' }).expect(200)).body).toEqual({
      status: 'ok',
    });
  });

  it('answers 401 anonymous, 403 for users, 404 for unknown paths and non-GET methods', async () => {
    expectProblem(await request(t.http).get('/agent/metrics'), 401, 'UNAUTHENTICATED');
    expectProblem(await request(t.http).get('/agent/metrics').auth(user, { type: 'bearer' }), 403, 'FORBIDDEN');
    expectProblem(
      await request(t.http).get('/agent/no-such-path').auth(admin, { type: 'bearer' }),
      404,
      'ROUTE_NOT_FOUND',
    );
    expectProblem(await request(t.http).get('/agent/').auth(admin, { type: 'bearer' }), 404, 'ROUTE_NOT_FOUND');
    expectProblem(await request(t.http).post('/agent/metrics').auth(admin, { type: 'bearer' }), 404, 'ROUTE_NOT_FOUND');
    expectProblem(
      await request(t.http).get('/api/agent/metrics').auth(admin, { type: 'bearer' }),
      404,
      'ROUTE_NOT_FOUND',
    );
  });

  it('refuses traversal, encoded and absolute-URL paths without contacting anything else', async () => {
    for (const path of [
      '/agent/../api/v1/users',
      '/agent/metrics/../health',
      '/agent/%2e%2e/metrics',
      '/agent/metrics%2fprometheus',
      '/agent//metrics',
      '/agent/http://169.254.169.254/latest',
      '/agent/metrics/',
      '/agent/METRICS',
      '/agent/metrics\\..\\health',
    ]) {
      const res = await rawGet(base, path, admin);
      expect([path, res.status]).toEqual([path, 404]);
      expect(res.body).not.toContain('memory');
    }
    // Query strings are not forwarded: the agent has no parameters.
    const withQuery = await request(t.http)
      .get('/agent/health?x=../../etc')
      .auth(admin, { type: 'bearer' })
      .expect(200);
    expect(withQuery.body).toEqual({ status: 'ok' });
  });

  it("answers 502 when the agent refuses the api's token", async () => {
    const wrong = await startTestApp({ AGENT_URL: agent.url, AGENT_TOKEN: `wrong-${TOKEN}` });
    try {
      const token = (await login(wrong.http, ADMIN.username, ADMIN.password)).accessToken;
      const res = await request(wrong.http).get('/agent/metrics').auth(token, { type: 'bearer' });
      expectProblem(res, 502, 'AGENT_UNAVAILABLE');
      expect(res.body.detail).toMatch(/refused the api's token/);
    } finally {
      await wrong.close();
    }
  });

  it('outside production, reads the token the agent writes into a shared DATA_DIR, even when the agent starts later', async () => {
    const port = await freePort();
    const shared = await startTestApp({ NODE_ENV: 'development', AGENT_URL: `http://127.0.0.1:${port}` });
    let late: AgentProcess | undefined;
    try {
      const token = (await login(shared.http, ADMIN.username, ADMIN.password)).accessToken;
      expectProblem(
        await request(shared.http).get('/agent/metrics').auth(token, { type: 'bearer' }),
        502,
        'AGENT_UNAVAILABLE',
      );
      // A development agent without AGENT_TOKEN generates DATA_DIR/agent-token (0600).
      late = await startAgent({ NODE_ENV: 'development', DATA_DIR: shared.dataDir, AGENT_PORT: String(port) });
      const res = await request(shared.http).get('/agent/metrics').auth(token, { type: 'bearer' }).expect(200);
      expect(res.body.memory.totalBytes).toBeGreaterThan(0);
    } finally {
      await late?.stop();
      await shared.close();
    }
  });
});

describe('agent unreachable (e2e)', () => {
  let t: TestApp;
  let admin: string;

  beforeAll(async () => {
    t = await startTestApp({ AGENT_URL: `http://127.0.0.1:${await freePort()}`, AGENT_TOKEN: TOKEN });
    admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
  });
  afterAll(() => t?.close());

  it('keeps /health/ready at 200, degraded, naming the agent', async () => {
    const res = await request(t.http).get('/health/ready').expect(200);
    expect(res.body.status).toBe('degraded');
    expect(res.body.details.database.status).toBe('up');
    expect(res.body.details.hypervisor.status).toBe('up');
    expect(res.body.details.agent).toEqual(
      expect.objectContaining({ status: 'degraded', message: expect.stringMatching(/unreachable: ECONNREFUSED/) }),
    );
    expect(res.body.error).toEqual({});
  });

  it('answers the proxy with 502 AGENT_UNAVAILABLE', async () => {
    expectProblem(
      await request(t.http).get('/agent/metrics').auth(admin, { type: 'bearer' }),
      502,
      'AGENT_UNAVAILABLE',
    );
  });
});
