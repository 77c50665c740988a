import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { buildOpenApiDocument } from '../apps/api/src/common/openapi';
import { ErrorCode } from '../apps/api/src/common/problem';
import { OperationDto } from '../apps/api/src/operations/dto/operation.dto';
import { Operation } from '../apps/api/src/operations/operation.entity';
import { startTestApp, TestApp } from './support/test-app';

const COMMITTED = join(__dirname, '..', 'docs', 'openapi.json');

/** The committed docs/openapi.json must equal what the code generates. Regenerate with `npm run openapi`. */
describe('OpenAPI spec (e2e)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('docs/openapi.json is up to date', () => {
    const generated = JSON.stringify(buildOpenApiDocument(t.app), null, 2) + '\n';
    if (process.env.UPDATE_OPENAPI === '1') writeFileSync(COMMITTED, generated);
    expect(readFileSync(COMMITTED, 'utf8')).toBe(generated);
  });

  it('documents every operation with a summary, its responses and problem+json errors', () => {
    const spec = buildOpenApiDocument(t.app);
    for (const [path, item] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(
        item as Record<string, { summary?: string; description?: string; responses: Record<string, unknown> }>,
      )) {
        const where = `${method.toUpperCase()} ${path}`;
        expect([where, Boolean(op.summary || op.description)]).toEqual([where, true]);
        expect([where, Object.keys(op.responses).some((s) => s.startsWith('2'))]).toEqual([where, true]);
        if (path.startsWith('/api/'))
          expect([where, Object.keys(op.responses).some((s) => s.startsWith('4'))]).toEqual([where, true]);
      }
    }
    expect(spec.components?.schemas?.ProblemDto).toBeDefined();
    const login = spec.paths['/api/v1/auth/login'].post!;
    // Shared responses are $refs; the login's 401 has examples of its own (SECOND_FACTOR_REQUIRED), so it is inline.
    const unauthorized = login.responses['401'] as { $ref?: string };
    const resolved = unauthorized.$ref
      ? spec.components!.responses![unauthorized.$ref.split('/').pop()!]
      : unauthorized;
    expect(JSON.stringify(resolved)).toContain('application/problem+json');
    expect(JSON.stringify(resolved)).toContain('SECOND_FACTOR_REQUIRED');
    expect((spec.components!.schemas!.LoginDto as { properties: Record<string, unknown> }).properties.username).toEqual(
      expect.objectContaining({ example: 'alice' }),
    );
  });

  it('contract 12.14: an operation the spec calls public (security: []) answers without a token; every other one refuses it', async () => {
    const spec = buildOpenApiDocument(t.app);
    const operations = Object.entries(spec.paths).flatMap(([path, item]) =>
      (['get', 'post', 'put', 'patch', 'delete'] as const)
        .filter((method) => item[method])
        .map((method) => ({ method, path, security: item[method]!.security })),
    );
    expect(operations.filter((op) => op.security === undefined)).toEqual([]);
    const publicOnes = operations
      .filter((op) => op.security!.length === 0)
      .map((op) => `${op.method.toUpperCase()} ${op.path}`);
    expect(publicOnes.sort()).toEqual(
      [
        'GET /health/live',
        'GET /health/ready',
        'GET /api/v1/auth/oidc',
        'GET /api/v1/auth/oidc/login',
        'GET /api/v1/auth/oidc/callback',
        'POST /api/v1/auth/login',
        'POST /api/v1/auth/login/second-factor',
        'POST /api/v1/auth/login/totp-enrolment',
        'POST /api/v1/auth/logout',
        'POST /api/v1/auth/refresh',
        'POST /api/v1/auth/register',
      ].sort(),
    );
    for (const op of operations) {
      const res = await request(t.http)[op.method](
        op.path.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000'),
      );
      expect([`${op.method} ${op.path}`, res.status === 401]).toEqual([
        `${op.method} ${op.path}`,
        op.security!.length > 0,
      ]);
    }
  });

  it('contract 12.14: a health route, like any, answers 400 to a malformed JSON body (the 4xx it declares)', async () => {
    const res = await request(t.http).get('/health/live').set('Content-Type', 'application/json').send('{');
    expect([res.status, res.body.code]).toEqual([400, 'MALFORMED_JSON']);
    expect(Object.keys(buildOpenApiDocument(t.app).paths['/health/live'].get!.responses)).toContain('400');
  });
});

type Json = Record<string, any>;

/** The committed spec, the way generated clients and the e2e response check read it. */
describe('OpenAPI contract (docs/openapi.json)', () => {
  const spec = JSON.parse(readFileSync(COMMITTED, 'utf8')) as Json;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'spec', components: { schemas: spec.components.schemas } });
  const schema = (name: string) => ajv.getSchema(`spec#/components/schemas/${name}`)!;
  const resolve = (item: Json): Json =>
    item.$ref
      ? item.$ref
          .replace(/^#\//, '')
          .split('/')
          .reduce((node: Json, key: string) => node[key], spec)
      : item;
  const operations = Object.entries(spec.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json).map(([method, op]) => ({ path, method, op: op as Json })),
  );

  it('contract 12.4: an operation just created (no result, no error yet) is sent with result and error null, as OperationDto requires', () => {
    const created = Object.assign(new Operation(), {
      id: '0b9d6c3e-2f41-4a8e-9c1d-7e5a3b2c1d0f',
      kind: 'vm.create',
      status: 'pending',
      vmId: null,
      ownerId: '5f0c8a63-6b8e-4a4e-9a57-0b7f3f8d2a11',
      createdAt: new Date(),
      startedAt: null,
      finishedAt: null,
    });
    const body = JSON.parse(JSON.stringify(OperationDto.from(created)));
    const validate = schema('OperationDto');
    expect([validate(body), validate.errors]).toEqual([true, null]);
    expect(body).toEqual(expect.objectContaining({ result: null, error: null }));
  });

  it('contract 12.5: GET /api/v1/events declares one optional Last-Event-ID header and no other', () => {
    const parameters = (spec.paths['/api/v1/events'].get.parameters as Json[]).filter((p) => p.in === 'header');
    expect(parameters).toEqual([expect.objectContaining({ name: 'Last-Event-ID', required: false })]);
  });

  it('contract 12.6: OpenAPI 3.1 with JSON Schema null types: no `nullable`, and a null OperationDto.error validates', () => {
    expect(spec.openapi).toMatch(/^3\.1\./);
    expect(JSON.stringify(spec)).not.toContain('"nullable"');
    const failed = {
      id: '0b9d6c3e-2f41-4a8e-9c1d-7e5a3b2c1d0f',
      kind: 'vm.start',
      status: 'failed',
      vmId: null,
      ownerId: '5f0c8a63-6b8e-4a4e-9a57-0b7f3f8d2a11',
      result: null,
      createdAt: '2026-11-26T08:00:00.000Z',
      startedAt: null,
      finishedAt: null,
    };
    expect(schema('OperationDto')({ ...failed, error: null })).toBe(true);
    expect(
      schema('OperationDto')({
        ...failed,
        error: { code: 'HYPERVISOR_ERROR', detail: 'The hypervisor refused the request' },
      }),
    ).toBe(true);
    expect(schema('OperationDto')({ ...failed, error: 'HYPERVISOR_ERROR' })).toBe(false);
  });

  it('contract 12.7: X-Request-Id on every response, Location on every 202, ETag where a VM is answered, Retry-After on 429', () => {
    const missing: string[] = [];
    for (const { path, method, op } of operations) {
      for (const [status, declared] of Object.entries(op.responses as Json)) {
        const headers = Object.keys(resolve(declared as Json).headers ?? {});
        const where = `${method.toUpperCase()} ${path} ${status}`;
        const required = [
          'X-Request-Id',
          ...(status === '202' ? ['Location'] : []),
          ...(status === '429' ? ['Retry-After'] : []),
        ];
        for (const name of required) if (!headers.includes(name)) missing.push(`${where}: ${name}`);
      }
    }
    expect(missing).toEqual([]);
    for (const [path, method, status] of [
      ['/api/v1/vms/{id}', 'get', '200'],
      ['/api/v1/vms/{id}', 'patch', '200'],
      ['/api/v1/vms/{id}', 'patch', '202'],
      ['/api/v1/vms', 'post', '202'],
      ['/api/v1/vms/{id}/actions', 'post', '202'],
    ]) {
      expect([path, method, status, Object.keys(spec.paths[path][method].responses[status].headers)]).toEqual([
        path,
        method,
        status,
        expect.arrayContaining(['ETag']),
      ]);
    }
    expect(spec.components.headers['Retry-After'].schema).toEqual({ type: 'integer', minimum: 1 });
    expect(Object.keys(spec.components.headers)).toEqual(
      expect.arrayContaining([
        'X-RateLimit-Remaining-api-user',
        'X-RateLimit-Remaining-auth-ip',
        'X-RateLimit-Remaining-auth-user',
      ]),
    );
  });

  it('contract 12.8: ProblemDto has the extension members, code is the catalogue, and each example shows its own status', () => {
    const problem = spec.components.schemas.ProblemDto as Json;
    expect(Object.keys(problem.properties)).toEqual(
      expect.arrayContaining(['state', 'allowedFrom', 'resource', 'limit', 'used', 'requested']),
    );
    expect(problem.properties.code.allOf).toEqual([{ $ref: '#/components/schemas/ErrorCode' }]);
    expect([...(spec.components.schemas.ErrorCode.enum as string[])].sort()).toEqual(Object.values(ErrorCode).sort());
    const quota = {
      type: 'https://limen.dev/problems/quota-exceeded',
      title: 'Forbidden',
      status: 403,
      detail: 'Quota exceeded',
      code: 'QUOTA_EXCEEDED',
      requestId: 'r1',
      resource: 'vcpus',
      limit: 8,
      used: 6,
      requested: 4,
    };
    expect(schema('ProblemDto')(quota)).toBe(true);
    expect(schema('ProblemDto')({ ...quota, code: 'NOT_A_CODE' })).toBe(false);
    const wrong: string[] = [];
    let examples = 0;
    for (const { path, method, op } of operations) {
      for (const [status, declared] of Object.entries(op.responses as Json)) {
        for (const example of Object.values(
          resolve(declared as Json).content?.['application/problem+json']?.examples ?? {},
        )) {
          const value = resolve(example as Json).value as Json;
          examples += 1;
          if (value.status !== Number(status) || !schema('ProblemDto')(value))
            wrong.push(`${method.toUpperCase()} ${path} ${status}: ${value.status} ${value.code}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(examples).toBeGreaterThan(operations.length);
  });

  it('contract 12.9: 413 on every JSON route; 500, 502 and 503 on VM routes, and 507 where VM disks are written', () => {
    const undeclared: string[] = [];
    for (const { path, method, op } of operations) {
      const where = `${method.toUpperCase()} ${path}`;
      if (op.requestBody?.content?.['application/json'] && !op.responses['413']) undeclared.push(`${where} 413`);
      // Schedules are rows only (their runs are operations): no hypervisor or VM disk behind the routes.
      const statuses = path.includes('/schedules')
        ? ['500', '503']
        : path.endsWith('/console')
          ? ['500', '502', '503']
          : ['500', '502', '503', '507'];
      if (path.startsWith('/api/v1/vms'))
        for (const status of statuses) if (!op.responses[status]) undeclared.push(`${where} ${status}`);
    }
    expect(undeclared).toEqual([]);
  });

  it('contract 12.10: /agent/health and /agent/metrics have response schemas; /api/v1/events declares text/event-stream with one schema per event type', () => {
    expect(spec.paths['/agent/health'].get.responses['200'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/AgentHealthDto',
    });
    expect(spec.paths['/agent/metrics'].get.responses['200'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/AgentHostMetricsDto',
    });
    const stream = spec.paths['/api/v1/events'].get.responses['200'].content['text/event-stream'].schema as Json;
    const types = (stream.oneOf as Json[]).map((event) => event.properties.event.enum[0]);
    expect(types).toEqual(
      expect.arrayContaining([
        'heartbeat',
        'vm.created',
        'vm.state',
        'vm.deleted',
        'operation.updated',
        'snapshot.created',
        'snapshot.deleted',
        'alert.firing',
      ]),
    );
    const validate = ajv.compile({
      ...JSON.parse(JSON.stringify(stream).replace(/"#\/components/g, '"spec#/components')),
    });
    expect(
      validate({
        event: 'vm.state',
        id: '42',
        data: {
          type: 'vm.state',
          at: '2026-11-26T08:00:00.000Z',
          vmId: '0b9d6c3e-2f41-4a8e-9c1d-7e5a3b2c1d0f',
          state: 'running',
          stateReason: null,
          version: 3,
        },
      }),
    ).toBe(true);
    expect(
      validate({
        event: 'vm.state',
        id: '42',
        data: { type: 'vm.state', at: '2026-11-26T08:00:00.000Z', state: 'running' },
      }),
    ).toBe(false);
    // What sendEventStream writes on connect: no id, and only the time.
    expect(validate({ event: 'heartbeat', data: { at: '2026-11-26T08:00:00.000Z' } })).toBe(true);
  });

  it('contract 12.11: counts, sizes, limits and versions are integers, so vcpus: 1.5 breaks the spec as it breaks the server', () => {
    const fields: [string, string][] = [
      ['CreateVmDto', 'vcpus'],
      ['CreateVmDto', 'memoryMiB'],
      ['CreateVmDto', 'diskGiB'],
      ['UpdateVmDto', 'vcpus'],
      ['VmDto', 'version'],
      ['VmActionDto', 'timeoutSeconds'],
      ['QuotaAmountsDto', 'vms'],
      ['SetQuotaDto', 'memoryMiB'],
      ['ImageDto', 'sizeBytes'],
      ['TokenPairDto', 'expiresIn'],
      ['AlertRuleDto', 'for'],
      ['ProblemDto', 'status'],
      ['AuditEntryDto', 'statusCode'],
    ];
    for (const [name, field] of fields)
      expect([name, field, [spec.components.schemas[name].properties[field].type].flat()]).toEqual([
        name,
        field,
        expect.arrayContaining(['integer']),
      ]);
    const create = {
      name: 'web-1',
      imageId: '0b9d6c3e-2f41-4a8e-9c1d-7e5a3b2c1d0f',
      vcpus: 1.5,
      memoryMiB: 256,
      diskGiB: 1,
    };
    expect(schema('CreateVmDto')(create)).toBe(false);
    expect(ajv.errorsText(schema('CreateVmDto').errors)).toContain('vcpus must be integer');
    const limit = (spec.paths['/api/v1/vms'].get.parameters as Json[]).find((p) => p.name === 'limit')!;
    expect(limit.schema.type).toBe('integer');
  });
});
