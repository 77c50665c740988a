import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { buildOpenApiDocument } from '../apps/api/src/common/openapi';
import { KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(120_000);

/** Rough edges real clients hit (issue 12): media types, and lists that page like every other list. */
describe('API contract: rough edges (e2e)', () => {
  let t: TestApp;
  let admin: { accessToken: string };
  let alice: { accessToken: string };
  let workDir: string;
  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
  });

  /** Every item of a list, read `limit` at a time through nextCursor. */
  async function pageThrough(token: string, path: string, limit: number): Promise<{ pages: number; ids: string[] }> {
    const ids: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: request.Response = await as(token)
        .get(path)
        .query(cursor ? { limit, cursor } : { limit })
        .expect(200);
      expect(Object.keys(res.body).sort()).toEqual(['items', 'nextCursor']);
      expect(res.body.items.length).toBeLessThanOrEqual(limit);
      ids.push(...res.body.items.map((item: { id: string }) => item.id));
      cursor = res.body.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 20);
    return { pages, ids };
  }

  beforeAll(async () => {
    t = await startTestApp();
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    workDir = mkdtempSync(join('/var/lib/limen/e2e', 'rough-edges-'));
  });

  afterAll(async () => {
    if (t) {
      const ids: Array<{ id: string }> = await t.app.get(DataSource).query(`SELECT id FROM vms`);
      for (const { id } of ids) {
        virsh('destroy', `limen-${id}`);
        virsh('undefine', `limen-${id}`, '--snapshots-metadata');
      }
      await t.close();
    }
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  describe('contract 12.1: a body of the wrong media type', () => {
    it('contract 12.1: text/plain on POST /api/v1/vms answers 415 UNSUPPORTED_MEDIA_TYPE naming application/json', async () => {
      const body = JSON.stringify({
        name: 'typed',
        vcpus: 1,
        memoryMiB: 128,
        diskGiB: 1,
        imageId: '00000000-0000-4000-8000-000000000000',
      });
      const res = await as(alice.accessToken).post('/api/v1/vms').set('Content-Type', 'text/plain').send(body);
      expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
      expect(res.body.detail).toContain('application/json');
      expect(res.body.detail).toContain('text/plain');
      // No Content-Type at all is the same mistake.
      const untyped = await request(t.http)
        .post('/api/v1/auth/login')
        .set('Content-Type', '')
        .send(Buffer.from(JSON.stringify({ username: 'a', password: 'b' })));
      expectProblem(untyped, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('contract 12.1: a JSON body on the octet-stream image upload answers 415 naming application/octet-stream, and nothing is kept', async () => {
      const res = await as(admin.accessToken)
        .post('/api/v1/images')
        .query({ name: 'sent-as-json.iso' })
        .send({ image: 'bytes' });
      expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
      expect(res.body.detail).toContain('application/octet-stream');
      const images = await as(admin.accessToken).get('/api/v1/images').expect(200);
      expect(images.body.items.map((i: { name: string }) => i.name)).not.toContain('sent-as-json.iso');
    });

    it('contract 12.1: the right media types still pass, and a route that reads no body ignores its type', async () => {
      const upload = await as(admin.accessToken)
        .post('/api/v1/images')
        .query({ name: 'raw-bytes.iso' })
        .set('Content-Type', 'application/octet-stream')
        .send(Buffer.from('an iso, as far as names go'));
      expect(upload.status).toBe(201);
      const charset = await request(t.http)
        .post('/api/v1/auth/login')
        .set('Content-Type', 'application/json; charset=utf-8')
        .send(JSON.stringify({ username: ADMIN.username, password: ADMIN.password }));
      expect(charset.status).toBe(200);
      // POST with no body at all (Content-Length: 0): nothing to refuse.
      await as(admin.accessToken).post('/api/v1/images/rescan').expect(200);
    });

    it('contract 12.1: the spec declares the 415 on every operation that reads a body', () => {
      const spec = buildOpenApiDocument(t.app);
      const withBody = Object.entries(spec.paths).flatMap(([path, item]) =>
        Object.entries(item)
          .filter(([, op]) => op && typeof op === 'object' && 'requestBody' in op)
          .map(([method, op]) => ({
            where: `${method.toUpperCase()} ${path}`,
            responses: (op as { responses: Record<string, { content?: Record<string, unknown> }> }).responses,
          })),
      );
      expect(withBody.map((op) => op.where)).toEqual(
        expect.arrayContaining(['POST /api/v1/vms', 'POST /api/v1/images']),
      );
      for (const op of withBody)
        expect([op.where, Object.keys(op.responses['415']?.content ?? {})]).toEqual([
          op.where,
          ['application/problem+json'],
        ]);
    });
  });

  describe('contract 12.2: /images, /hosts and /snapshots page like every other list', () => {
    it('contract 12.2: images page with limit and cursor, newest first, each image once', async () => {
      for (const name of ['page-a.iso', 'page-b.iso', 'page-c.iso']) {
        await as(admin.accessToken)
          .post('/api/v1/images')
          .query({ name })
          .set('Content-Type', 'application/octet-stream')
          .send(Buffer.from(name))
          .expect(201);
      }
      const all = await as(alice.accessToken).get('/api/v1/images').expect(200);
      expect(all.body.nextCursor).toBeNull();
      expect(all.body.items.length).toBeGreaterThanOrEqual(4);
      const paged = await pageThrough(alice.accessToken, '/api/v1/images', 2);
      expect(paged.pages).toBe(Math.ceil(all.body.items.length / 2));
      expect(paged.ids).toEqual(all.body.items.map((i: { id: string }) => i.id));
      expect(all.body.items.slice(0, 3).map((i: { name: string }) => i.name)).toEqual([
        'page-c.iso',
        'page-b.iso',
        'page-a.iso',
      ]);
      expectProblem(await as(alice.accessToken).get('/api/v1/images').query({ limit: 501 }), 400, 'VALIDATION_FAILED');
      expectProblem(
        await as(alice.accessToken).get('/api/v1/images').query({ cursor: 'bm90LWEtY3Vyc29y' }),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('contract 12.2: hosts page with limit and cursor', async () => {
      for (const name of ['paged-1', 'paged-2']) {
        await as(admin.accessToken)
          .post('/api/v1/hosts')
          .send({ name, adapter: 'qemu-direct', stateDir: join(workDir, name) })
          .expect(201);
      }
      const all = await as(admin.accessToken).get('/api/v1/hosts').expect(200);
      expect(all.body.items.length).toBe(3);
      expect(all.body.nextCursor).toBeNull();
      const paged = await pageThrough(admin.accessToken, '/api/v1/hosts', 1);
      expect(paged.pages).toBe(3);
      expect(paged.ids).toEqual(all.body.items.map((h: { id: string }) => h.id));
      expectProblem(await as(admin.accessToken).get('/api/v1/hosts').query({ limit: 0 }), 400, 'VALIDATION_FAILED');
    });

    it('contract 12.2: snapshots page with limit and cursor', async () => {
      const images = await as(alice.accessToken).get('/api/v1/images').expect(200);
      const imageId = images.body.items.find((i: { name: string }) => i.name === KERNEL_IMAGE_NAME).id;
      const created = await as(alice.accessToken)
        .post('/api/v1/vms')
        .send({ name: 'snapped', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start: false })
        .expect(202);
      expect(
        (await as(alice.accessToken).get(`${created.headers.location}/wait?timeout=60`).expect(200)).body.status,
      ).toBe('succeeded');
      const vmId = created.body.vm.id as string;
      for (const name of ['first', 'second', 'third']) {
        const snap = await as(alice.accessToken).post(`/api/v1/vms/${vmId}/snapshots`).send({ name }).expect(202);
        expect(
          (await as(alice.accessToken).get(`${snap.headers.location}/wait?timeout=60`).expect(200)).body.status,
        ).toBe('succeeded');
      }
      const all = await as(alice.accessToken).get(`/api/v1/vms/${vmId}/snapshots`).expect(200);
      expect(all.body.items.map((s: { name: string }) => s.name)).toEqual(['third', 'second', 'first']);
      expect(all.body.nextCursor).toBeNull();
      const paged = await pageThrough(alice.accessToken, `/api/v1/vms/${vmId}/snapshots`, 2);
      expect(paged.pages).toBe(2);
      expect(paged.ids).toEqual(all.body.items.map((s: { id: string }) => s.id));
    });

    it('contract 12.2: the spec gives the three lists limit and cursor, and a nextCursor', () => {
      const spec = buildOpenApiDocument(t.app);
      for (const path of ['/api/v1/images', '/api/v1/hosts', '/api/v1/vms/{vmId}/snapshots']) {
        const list = spec.paths[path].get!;
        expect([
          path,
          (list.parameters ?? [])
            .map((p) => ('name' in p ? p.name : ''))
            .filter((n) => n === 'limit' || n === 'cursor'),
        ]).toEqual([path, ['limit', 'cursor']]);
        const schema = (list.responses['200'] as { content: Record<string, { schema: { $ref: string } }> }).content[
          'application/json'
        ].schema.$ref
          .split('/')
          .pop()!;
        expect([path, Object.keys((spec.components!.schemas![schema] as { properties: object }).properties)]).toEqual([
          path,
          ['items', 'nextCursor'],
        ]);
      }
    });
  });
});
