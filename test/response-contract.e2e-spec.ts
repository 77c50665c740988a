import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { ADMIN, login, startTestApp, TestApp } from './support/test-app';
import { OpenApiDocument, ResponseContract, takeViolations, watchResponses } from './support/response-contract';

type Json = Record<string, any>;

const SPEC = join(__dirname, '..', 'docs', 'openapi.json');

/** The committed spec with `edit` applied: a deliberately wrong contract the real server must break. */
function editedSpec(edit: (spec: Json) => void): ResponseContract {
  const spec = JSON.parse(readFileSync(SPEC, 'utf8')) as Json;
  edit(spec);
  return new ResponseContract(spec as OpenApiDocument);
}

/**
 * The shared hook (test/support/response-contract.ts, loaded for every e2e file by
 * jest.e2e.config.js) must catch what it exists for, or it would pass silently.
 */
describe('response contract hook (e2e)', () => {
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    t = await startTestApp();
    token = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
  });
  afterAll(() => t.close());

  /** Watches the real server with `contract` besides the shared hook, and returns what it found. */
  function watchWith(contract: ResponseContract): string[] {
    const found: string[] = [];
    watchResponses(t.app.getHttpServer(), contract, (violations) => found.push(...violations));
    return found;
  }

  it('contract 12.hook: a body field, a status and a header the spec does not declare each fail', async () => {
    const found = watchWith(
      editedSpec((spec) => {
        delete spec.components.schemas.UserDto.properties.role;
        delete spec.paths['/api/v1/auth/me'].get.responses['401'];
        delete spec.paths['/api/v1/users'].get.responses['200'].headers['X-Request-Id'];
      }),
    );
    await request(t.http).get('/api/v1/auth/me').auth(token, { type: 'bearer' }).expect(200);
    await request(t.http).get('/api/v1/auth/me').expect(401);
    await request(t.http).get('/api/v1/users').auth(token, { type: 'bearer' }).expect(200);
    expect(found).toEqual([
      expect.stringMatching(/^GET \/api\/v1\/auth\/me -> 200 .*: body must NOT have unevaluated properties: role$/),
      expect.stringMatching(/^GET \/api\/v1\/auth\/me -> 401 .*status 401 is not declared/),
      expect.stringMatching(/^GET \/api\/v1\/users -> 200 .*header x-request-id is not declared/),
      expect.stringMatching(
        /^GET \/api\/v1\/users -> 200 .*: body\/items\/0 must NOT have unevaluated properties: role$/,
      ),
    ]);
    // The real spec declares all three, so the shared hook saw nothing wrong.
    expect(takeViolations()).toEqual([]);
  });

  it('contract 12.hook: a wrongly typed value, a missing required header and an undeclared content type fail', async () => {
    const found = watchWith(
      editedSpec((spec) => {
        spec.components.schemas.UserDto.properties.username = { type: 'integer' };
        spec.components.headers.ETag = { required: true, schema: { type: 'string' } };
        spec.paths['/api/v1/auth/me'].get.responses['200'].headers = {
          ...spec.paths['/api/v1/auth/me'].get.responses['200'].headers,
          ETag: { $ref: '#/components/headers/ETag' },
        };
        spec.paths['/health/live'].get.responses['200'].content = { 'text/plain': { schema: { type: 'string' } } };
      }),
    );
    await request(t.http).get('/api/v1/auth/me').auth(token, { type: 'bearer' }).expect(200);
    await request(t.http).get('/health/live').expect(200);
    expect(found).toEqual([
      expect.stringMatching(/^GET \/api\/v1\/auth\/me -> 200 .*required header etag is missing/),
      expect.stringMatching(/^GET \/api\/v1\/auth\/me -> 200 .*body\/username must be integer/),
      expect.stringMatching(/^GET \/health\/live -> 200 .*content type application\/json is not declared/),
    ]);
    expect(takeViolations()).toEqual([]);
  });

  it('contract 12.hook: routes are matched by template (literal segments first, query ignored), and an unknown route must be a 404 problem', () => {
    const contract = ResponseContract.fromFile();
    const problem = (status: number) =>
      Buffer.from(
        JSON.stringify({
          type: 'https://limen.dev/problems/route-not-found',
          title: 'Not Found',
          status,
          detail: 'No route',
          code: 'ROUTE_NOT_FOUND',
          requestId: 'r1',
        }),
      );
    const headers = { 'content-type': 'application/problem+json; charset=utf-8', 'x-request-id': 'r1' };
    const images = Buffer.from(JSON.stringify({ items: [] }));
    // /images/rescan is its own operation (POST), not GET /images/{id}.
    expect(
      contract.check({ method: 'GET', url: '/api/v1/images/rescan?x=1', status: 404, headers, body: problem(404) }),
    ).toEqual([]);
    expect(
      contract.check({ method: 'POST', url: '/api/v1/images/rescan', status: 204, headers, body: Buffer.alloc(0) }),
    ).toEqual([expect.stringContaining('status 204 is not declared')]);
    expect(
      contract.check({ method: 'GET', url: '/api/v1/nothing-here', status: 404, headers, body: problem(404) }),
    ).toEqual([]);
    expect(
      contract.check({
        method: 'GET',
        url: '/api/v1/nothing-here',
        status: 200,
        headers: { 'content-type': 'application/json', 'x-request-id': 'r1' },
        body: images,
      }),
    ).toEqual([expect.stringContaining('no operation in the spec serves this request')]);
    expect(
      contract.check({
        method: 'GET',
        url: '/api/v1/nothing-here',
        status: 404,
        headers: { 'content-type': 'text/html' },
        body: Buffer.from('<p>no</p>'),
      }),
    ).toEqual([expect.stringContaining('content type text/html is not declared')]);
  });
});
