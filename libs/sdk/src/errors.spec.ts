import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { createLimenClient } from './index';
import { LimenProblemError, unwrap } from './errors';

describe('unwrap', () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url?.startsWith('/api/v1/vms/')) {
        res.writeHead(404, { 'Content-Type': 'application/problem+json' });
        res.end(
          JSON.stringify({
            type: 'https://limen.dev/problems/not-found',
            title: 'Not Found',
            status: 404,
            detail: 'VM not found',
            code: 'NOT_FOUND',
            requestId: 'req-1',
            extra: 'kept',
          }),
        );
      } else if (req.url?.startsWith('/api/v1/quota')) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ limits: { vms: 1 } }));
      } else {
        res.writeHead(502, { 'Content-Type': 'text/html', 'X-Request-Id': 'proxy' });
        res.end('<html>bad gateway</html>');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('returns the data of a success', async () => {
    const client = createLimenClient(base, () => 'tok');
    expect(await unwrap(client.GET('/api/v1/quota'))).toEqual({ limits: { vms: 1 } });
  });

  it('throws a LimenProblemError with the typed code, status, detail and extension members', async () => {
    const client = createLimenClient(base);
    const error = await unwrap(client.GET('/api/v1/vms/{id}', { params: { path: { id: 'x' } } })).catch((e) => e);
    expect(error).toBeInstanceOf(LimenProblemError);
    expect(error).toMatchObject({ code: 'NOT_FOUND', status: 404, detail: 'VM not found', requestId: 'req-1' });
    expect((error as LimenProblemError).problem.extra).toBe('kept');
    expect((error as Error).message).toBe('404 NOT_FOUND: VM not found');
  });

  it('makes a problem of an answer that is not problem+json', async () => {
    const client = createLimenClient(base);
    const error = await unwrap(client.GET('/api/v1/hosts')).catch((e) => e);
    expect(error).toMatchObject({ status: 502, code: 'SERVICE_UNAVAILABLE', requestId: 'proxy' });
    expect((error as LimenProblemError).detail).toContain('bad gateway');
  });

  it('answers an awaited result at once: its data, or a synchronous throw', async () => {
    const client = createLimenClient(base);
    expect(unwrap(await client.GET('/api/v1/quota'))).toEqual({ limits: { vms: 1 } });
    const failed = await client.GET('/api/v1/vms/{id}', { params: { path: { id: 'x' } } });
    expect(() => unwrap(failed)).toThrow(LimenProblemError);
    expect(() => unwrap(failed)).toThrow('404 NOT_FOUND: VM not found');
  });
});
