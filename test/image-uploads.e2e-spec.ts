import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { AddressInfo } from 'node:net';
import { ADMIN, createUser, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(120_000);

/** The request deadline, and the upload rule that replaces it: short, so the tests are. */
const REQUEST_TIMEOUT_SECONDS = 3;
const MIN_BYTES_PER_SECOND = 4096;
const WINDOW_SECONDS = 2;

interface Answer {
  status: number;
  body: { code?: string; detail?: string; sizeBytes?: number; sha256?: string; name?: string };
  ms: number;
}

/**
 * Sends `chunks` one every `intervalMs` on a real connection (Content-Length says the whole
 * `declaredLength`), then stops sending without closing: a steady, a trickling or a stalled client.
 */
function sendSlowly(
  port: number,
  path: string,
  headers: Record<string, string>,
  chunks: Buffer[],
  intervalMs: number,
  declaredLength = chunks.reduce((n, c) => n + c.length, 0),
): Promise<Answer> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent: false,
        headers: { ...headers, 'content-length': String(declaredLength) },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () => {
          clearInterval(timer);
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || '{}'), ms: Date.now() - started });
        });
      },
    );
    req.on('error', (error) => {
      clearInterval(timer);
      reject(error);
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`no answer to ${path} within 60 s`)));
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < chunks.length) req.write(chunks[sent++]);
      else clearInterval(timer);
    }, intervalMs);
  });
}

const chunksOf = (count: number, size: number) => Array.from({ length: count }, () => randomBytes(size));

describe('image uploads (e2e)', () => {
  let t: TestApp;
  let port: number;
  let admin: string;
  const upload = (name: string, token: string, chunks: Buffer[], intervalMs: number, declaredLength?: number) =>
    sendSlowly(
      port,
      `/api/v1/images?name=${name}`,
      { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      chunks,
      intervalMs,
      declaredLength,
    );
  const leftovers = () => readdirSync(t.data.sandbox.imageDir).filter((f) => f.startsWith('.upload-'));

  beforeAll(async () => {
    t = await startTestApp({
      REQUEST_TIMEOUT_SECONDS: String(REQUEST_TIMEOUT_SECONDS),
      UPLOAD_MIN_BYTES_PER_SECOND: String(MIN_BYTES_PER_SECOND),
      UPLOAD_PROGRESS_WINDOW_SECONDS: String(WINDOW_SECONDS),
      UPLOAD_MAX_CONCURRENT: '2',
      UPLOAD_MAX_CONCURRENT_PER_USER: '1',
    });
    await t.app.listen(0, '127.0.0.1');
    port = (t.app.getHttpServer().address() as AddressInfo).port;
    admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
  });
  afterAll(() => t.close());

  it('security 11.10: an upload that takes longer than REQUEST_TIMEOUT_SECONDS completes, while an ordinary request as slow is cut with 408', async () => {
    // 8 s at a steady 64 KiB/s.
    const chunks = chunksOf(32, 16 * 1024);
    const [uploaded, login] = await Promise.all([
      upload('long-upload.iso', admin, chunks, 250),
      sendSlowly(
        port,
        '/api/v1/auth/login',
        { 'content-type': 'application/json' },
        Array.from('{"username":"slow-client","password":"slow-client-password"}', (c) => Buffer.from(c)),
        250,
      ),
    ]);
    expect({ status: uploaded.status, code: uploaded.body.code }).toEqual({ status: 201, code: undefined });
    expect(uploaded.ms).toBeGreaterThan(REQUEST_TIMEOUT_SECONDS * 2 * 1000);
    expect(uploaded.body.sizeBytes).toBe(32 * 16 * 1024);
    expect(uploaded.body.sha256).toBe(createHash('sha256').update(Buffer.concat(chunks)).digest('hex'));

    expect({ status: login.status, code: login.body.code }).toEqual({ status: 408, code: 'REQUEST_TIMEOUT' });
    expect(login.ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_SECONDS * 1000 - 100);
    expect(login.ms).toBeLessThan(REQUEST_TIMEOUT_SECONDS * 1000 + 2000);
  });

  it('security 11.10: a stalled upload, and one trickling below UPLOAD_MIN_BYTES_PER_SECOND, are cut with 408 and leave no file', async () => {
    const [stalled, trickling] = await Promise.all([
      // 16 KiB at once, then nothing, of a declared 1 MiB.
      upload('stalled.iso', admin, chunksOf(1, 16 * 1024), 10, 1024 * 1024),
      // 1 KiB/s, a quarter of the minimum, by another admin (one upload each at a time).
      createUser(t.http, admin, 'trickler', 'admin').then((other) =>
        upload('trickling.iso', other.accessToken, chunksOf(60, 1024), 1000, 60 * 1024),
      ),
    ]);
    for (const [name, answer] of [
      ['stalled', stalled],
      ['trickling', trickling],
    ] as const) {
      expect({ name, status: answer.status, code: answer.body.code }).toEqual({
        name,
        status: 408,
        code: 'REQUEST_TIMEOUT',
      });
      // Cut within two windows of falling behind, not at a request timeout.
      expect(answer.ms).toBeLessThan(3 * WINDOW_SECONDS * 1000 + 1000);
    }
    expect(leftovers()).toEqual([]);
    expect(readdirSync(t.data.sandbox.imageDir).filter((f) => f === 'stalled.iso' || f === 'trickling.iso')).toEqual(
      [],
    );
  });

  it('security 11.10: uploads beyond the per-user and the total cap are refused with 429 UPLOAD_LIMIT, and the slots come back', async () => {
    const second = await createUser(t.http, admin, 'uploader-2', 'admin');
    const third = await createUser(t.http, admin, 'uploader-3', 'admin');
    // Two uploads of 3 s each take both slots (one per user).
    const running = [
      upload('first.iso', admin, chunksOf(12, 16 * 1024), 250),
      upload('second.iso', second.accessToken, chunksOf(12, 16 * 1024), 250),
    ];
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const sameUser = await upload('third.iso', admin, chunksOf(1, 1024), 10);
    expect({ status: sameUser.status, code: sameUser.body.code }).toEqual({ status: 429, code: 'UPLOAD_LIMIT' });
    const overTotal = await upload('third.iso', third.accessToken, chunksOf(1, 1024), 10);
    expect({ status: overTotal.status, code: overTotal.body.code }).toEqual({ status: 429, code: 'UPLOAD_LIMIT' });

    expect((await Promise.all(running)).map((a) => a.status)).toEqual([201, 201]);
    expect((await upload('third.iso', third.accessToken, chunksOf(1, 1024), 10)).status).toBe(201);
    expect(leftovers()).toEqual([]);
  });
});
