import type { Server } from 'node:http';
import { AddressInfo, connect } from 'node:net';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { ADMIN, expectProblem, login, startTestApp, TestApp } from './support/test-app';

describe('HTTP conventions (e2e)', () => {
  let t: TestApp;
  let token: string;

  beforeAll(async () => {
    t = await startTestApp({ CORS_ORIGINS: 'https://console.example.com', REGISTRATION: 'open' });
    token = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
  });
  afterAll(() => t.close());

  const userCount = async () =>
    (await t.app.get(DataSource).query(`SELECT count(*)::int AS n FROM users`))[0].n as number;

  it('answers validation failures with per-field errors and changes nothing', async () => {
    const before = await userCount();
    const res = await request(t.http)
      .post('/api/v1/auth/register')
      .send({ username: '<x>&"\'', password: 12, extra: true });
    expectProblem(res, 400, 'VALIDATION_FAILED');
    const fields = res.body.errors.map((e: { field: string }) => e.field).sort();
    expect(fields).toEqual(['extra', 'password', 'username']);
    expect(JSON.stringify(res.body)).not.toContain('<x>');
    expect(await userCount()).toBe(before);
  });

  it('refuses hostile usernames: XML metacharacters, control characters, traversal, 10 KiB', async () => {
    const before = await userCount();
    for (const username of [
      'a<b>c',
      'x\u0000y',
      '../../etc',
      'semi;colon',
      'new\nline',
      'a'.repeat(10 * 1024),
      '$(reboot)',
      'UPPER CASE',
    ]) {
      expectProblem(
        await request(t.http).post('/api/v1/auth/register').send({ username, password: 'long-enough-password' }),
        400,
        'VALIDATION_FAILED',
      );
    }
    expectProblem(
      await request(t.http).post('/api/v1/auth/register').send(['not', 'an', 'object']),
      400,
      'VALIDATION_FAILED',
    );
    expect(await userCount()).toBe(before);
  });

  it('answers malformed JSON with 400 MALFORMED_JSON', async () => {
    const res = await request(t.http)
      .post('/api/v1/auth/login')
      .set('Content-Type', 'application/json')
      .send('{"username": "a",');
    expectProblem(res, 400, 'MALFORMED_JSON');
  });

  it('answers a body over 1 MiB with 413', async () => {
    const res = await request(t.http)
      .post('/api/v1/auth/login')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ username: 'a', password: 'x'.repeat(1024 * 1024 + 10) }));
    expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
  });

  it("answers what node:http's parser refuses with a problem too: headers over 16 KiB (431), a malformed request (400)", async () => {
    const server = t.app.getHttpServer() as Server;
    if (!server.listening) await t.app.listen(0, '127.0.0.1');
    const { port } = server.address() as AddressInfo;
    const exchange = (raw: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.end(raw));
        const chunks: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
        socket.on('error', reject);
        socket.setTimeout(10_000, () => socket.destroy(new Error('no answer within 10 s')));
      });
    const parse = (response: string) => {
      const [head, body] = response.split('\r\n\r\n');
      return {
        statusLine: head.split('\r\n')[0],
        contentType: /^content-type: (.*)$/im.exec(head)?.[1],
        body: JSON.parse(body),
      };
    };

    const huge = parse(
      await exchange(`GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`),
    );
    expect(huge.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(huge.contentType).toBe('application/problem+json');
    expect(huge.body).toEqual(
      expect.objectContaining({ status: 431, code: 'HEADERS_TOO_LARGE', title: 'Request Header Fields Too Large' }),
    );

    const malformed = parse(await exchange('GET /health/live HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n'));
    expect(malformed.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(malformed.body).toEqual(expect.objectContaining({ status: 400, code: 'MALFORMED_REQUEST' }));
    expect(JSON.stringify(malformed.body)).not.toMatch(/HPE_|stack|at /);
    // The server is unharmed.
    await request(t.http).get('/health/live').expect(200);
  });

  it('keeps idle connections open longer than the clients and proxies in front, and says so', async () => {
    const server = t.app.getHttpServer() as Server;
    if (!server.listening) await t.app.listen(0, '127.0.0.1');
    const { port } = server.address() as AddressInfo;
    // Node's fetch keeps a socket for the server's hint minus a second; a proxy for 60 s.
    const res = await fetch(`http://127.0.0.1:${port}/health/live`);
    expect(res.headers.get('keep-alive')).toBe('timeout=65');
    expect(server.headersTimeout).toBeGreaterThan(server.keepAliveTimeout);
  });

  it('answers unknown routes with a 404 problem, authenticated or not', async () => {
    expectProblem(await request(t.http).get('/api/v1/no-such-thing'), 404, 'ROUTE_NOT_FOUND');
    expectProblem(await request(t.http).get('/api/v2/users').auth(token, { type: 'bearer' }), 404, 'ROUTE_NOT_FOUND');
    expectProblem(await request(t.http).delete('/nowhere/at/all'), 404, 'ROUTE_NOT_FOUND');
  });

  it('accepts a sane X-Request-Id, echoes it into headers and problems, and replaces a hostile one', async () => {
    const res = await request(t.http).get('/api/v1/no-such-thing').set('X-Request-Id', 'trace-abc.123');
    expect(res.headers['x-request-id']).toBe('trace-abc.123');
    expect(res.body.requestId).toBe('trace-abc.123');
    const hostile = await request(t.http).get('/health/live').set('X-Request-Id', 'bad id\twith "stuff"');
    expect(hostile.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const generated = await request(t.http).get('/health/live');
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sends security headers and honours the CORS allow-list', async () => {
    const res = await request(t.http).get('/health/live').set('Origin', 'https://console.example.com');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['access-control-allow-origin']).toBe('https://console.example.com');
    const other = await request(t.http).get('/health/live').set('Origin', 'https://evil.example.net');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('serves liveness and readiness outside /api without auth', async () => {
    expect((await request(t.http).get('/health/live').expect(200)).body.status).toBe('ok');
    const ready = await request(t.http).get('/health/ready').expect(200);
    expect(ready.body.details.database.status).toBe('up');
    expect(ready.body.details.hypervisor).toEqual(
      expect.objectContaining({ status: 'up', adapter: 'libvirt', virtTypes: expect.arrayContaining(['qemu']) }),
    );
    await request(t.http).get('/api/health/live').expect(404);
  });

  it('serves Swagger UI at /docs and the spec at /docs-json with a bearer scheme', async () => {
    const html = await request(t.http).get('/docs').expect(200);
    expect(html.text).toContain('swagger-ui');
    const spec = await request(t.http).get('/docs-json').expect(200);
    expect(spec.body.openapi).toMatch(/^3\./);
    expect(spec.body.components.securitySchemes.bearer).toEqual(
      expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    );
    expect(Object.keys(spec.body.paths)).toEqual(
      expect.arrayContaining(['/api/v1/auth/login', '/api/v1/users/{id}', '/health/ready']),
    );
  });
});
