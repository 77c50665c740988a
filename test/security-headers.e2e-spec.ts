import request from 'supertest';
import { startTestApp, TestApp } from './support/test-app';

/** Pages a browser renders (Swagger UI, the console page) and an API route. */
const PATHS = ['/docs', '/console/0b7a1c52-5a43-4a43-9a1e-6c2b2f0f3d10', '/health/live'];

describe('security headers (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ TRUST_PROXY: 'loopback' });
  });
  afterAll(() => t.close());

  it('security 11.17: over plain HTTP there is no Strict-Transport-Security and no upgrade-insecure-requests', async () => {
    for (const path of PATHS) {
      const res = await request(t.http).get(path);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      expect({ path, hsts: res.headers['strict-transport-security'] }).toEqual({ path, hsts: undefined });
      expect(res.headers['content-security-policy']).toContain("script-src 'self'");
      expect(res.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('security 11.17: over TLS (X-Forwarded-Proto: https from a trusted proxy) both are sent', async () => {
    for (const path of PATHS) {
      const res = await request(t.http).get(path).set('X-Forwarded-Proto', 'https');
      expect(res.status).toBe(200);
      expect(res.headers['strict-transport-security']).toMatch(/max-age=\d+/);
      expect(res.headers['content-security-policy']).toContain('upgrade-insecure-requests');
    }
  });

  it('security 11.17: X-Forwarded-Proto from a client TRUST_PROXY does not trust is ignored', async () => {
    const direct = await startTestApp();
    try {
      const res = await request(direct.http).get('/docs').set('X-Forwarded-Proto', 'https').expect(200);
      expect(res.headers['strict-transport-security']).toBeUndefined();
      expect(res.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
    } finally {
      await direct.close();
    }
  });
});
