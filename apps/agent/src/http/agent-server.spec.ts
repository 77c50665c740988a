import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { HostMetrics } from '@limen/agent-contract';
import { MetricsSnapshot } from '../metrics/metrics-snapshot';
import { SampleCache, SampleTimeoutError } from '../metrics/sample-cache';
import { createAgentServer } from './agent-server';
import { BearerTokenVerifier } from './bearer-token';

const TOKEN = 'unit-test-token-0123456789';
const SAMPLE: HostMetrics = {
  sampledAt: '2026-01-01T00:00:00.000Z',
  hostname: 'hv-1',
  uptimeSeconds: 1,
  cpu: { percent: 1, cores: [] },
  load: { one: 0, five: 0, fifteen: 0 },
  memory: { totalBytes: 100, usedBytes: 50, availableBytes: 50, percent: 50 },
  swap: { totalBytes: 0, usedBytes: 0, freeBytes: 0 },
  disks: [],
  network: [],
  vms: [],
};

describe('agent HTTP server over a fake sampler', () => {
  let server: Server;
  let base: string;
  let samples: number;
  let next: () => Promise<HostMetrics>;

  beforeEach(async () => {
    samples = 0;
    next = async () => {
      await new Promise((r) => setTimeout(r, 50)); // slow enough for the scrapes to overlap
      return SAMPLE;
    };
    const cache = new SampleCache<MetricsSnapshot>(async () => (samples++, new MetricsSnapshot(await next())), {
      ttlMs: 2000,
      timeoutMs: 5000,
    });
    server = createAgentServer({
      snapshot: () => cache.get(),
      verifier: new BearerTokenVerifier(TOKEN),
      logger: pino({ level: 'silent' }),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const auth = { authorization: `Bearer ${TOKEN}` };

  it('answers 20 parallel scrapes of both formats with one sample', async () => {
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fetch(`${base}${i % 2 ? '/metrics' : '/metrics/prometheus'}`, { headers: auth }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(samples).toBe(1);
    expect(await responses[1].json()).toEqual(SAMPLE);
    expect(responses[0].headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('answers unknown routes 404 and other methods 405, as problem+json', async () => {
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    expect(await missing.json()).toMatchObject({ status: 404, code: 'ROUTE_NOT_FOUND', instance: '/nope' });
    const post = await fetch(`${base}/metrics`, { method: 'POST', headers: auth });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('keeps a sane X-Request-Id and puts it in the problem', async () => {
    const res = await fetch(`${base}/metrics`, { headers: { 'x-request-id': 'req-42' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('x-request-id')).toBe('req-42');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await res.json()).toMatchObject({ code: 'UNAUTHENTICATED', requestId: 'req-42' });
    expect(samples).toBe(0);
  });

  it('answers 503 when sampling times out and 500 when it fails, without leaking the error', async () => {
    next = () => Promise.reject(new SampleTimeoutError('sampling took longer than 10 ms'));
    const timedOut = await fetch(`${base}/metrics`, { headers: auth });
    expect(timedOut.status).toBe(503);
    expect(await timedOut.json()).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });

    next = () => Promise.reject(new Error('EACCES /proc/secret'));
    const failed = await fetch(`${base}/metrics`, { headers: auth });
    expect(failed.status).toBe(500);
    expect(await failed.text()).not.toContain('EACCES');
  });
});
