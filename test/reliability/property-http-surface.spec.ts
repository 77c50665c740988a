import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { getRepositoryToken } from '@nestjs/typeorm';
import request from 'supertest';
import { DataSource, Repository } from 'typeorm';
import { AuditEntry } from '../../apps/api/src/audit/audit-entry.entity';
import { hostileKey, hostileString, wrongTypeValue } from '../support/hostile-input';
import { KERNEL_IMAGE_NAME, poolEntriesByVm, virsh } from '../support/hypervisor';
import { RawRequest, RawResponse, sendRaw } from '../support/raw-request';
import { ADMIN, createUser, login, startTestApp, TestApp } from '../support/test-app';

/**
 * Property: whatever arrives over HTTP — any operation of the committed OpenAPI spec, with valid,
 * random or hostile path and query parameters, schema-shaped or mutated or malformed bodies, odd
 * headers, as anonymous, a user or an admin — the api answers below 500 (4xx as problem+json with
 * a code and no stack trace), stays alive, and leaves no half-created VM behind.
 *
 * fast-check prints the seed of a failure; replay one with FC_SEED=<seed> (and FC_PATH=<path>).
 */

const RUNS_PER_OPERATION = Number(process.env.FC_RUNS ?? 20);
/** Jest prints nothing until a file ends; PROGRESS_LOG=<file> follows this one live. */
const progress = (line: string) =>
  process.env.PROGRESS_LOG && appendFileSync(process.env.PROGRESS_LOG, `${new Date().toISOString()} ${line}\n`);
const SPEC = JSON.parse(readFileSync(join(__dirname, '..', '..', 'docs', 'openapi.json'), 'utf8')) as OpenApi;

interface Schema {
  $ref?: string;
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  pattern?: string;
  example?: unknown;
  nullable?: boolean;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  allOf?: Schema[];
  anyOf?: Schema[];
}
interface Parameter {
  in: 'path' | 'query' | 'header';
  name: string;
  required?: boolean;
  schema?: Schema;
}
interface Operation {
  method: string;
  path: string;
  operationId: string;
  parameters: Parameter[];
  body?: { contentType: string; schema: Schema };
}
interface OpenApi {
  paths: Record<
    string,
    Record<
      string,
      { operationId: string; parameters?: Parameter[]; requestBody?: { content: Record<string, { schema: Schema }> } }
    >
  >;
  components: { schemas: Record<string, Schema> };
}

function resolve(schema: Schema): Schema {
  if (schema.$ref) return resolve(SPEC.components.schemas[schema.$ref.split('/').pop()!]);
  if (schema.allOf)
    return schema.allOf
      .map(resolve)
      .reduce((a, b) => ({ ...a, ...b, properties: { ...a.properties, ...b.properties } }), {});
  // OpenAPI 3.1 spells a nullable member `type: [T, 'null']`, or `anyOf: [S, {type: 'null'}]` around a reference.
  if (Array.isArray(schema.type))
    return { ...schema, type: schema.type.find((t) => t !== 'null'), nullable: schema.type.includes('null') };
  const notNull = schema.anyOf?.filter((s) => s.type !== 'null');
  if (notNull?.length === 1 && notNull.length < schema.anyOf!.length) return { ...resolve(notNull[0]), nullable: true };
  return schema;
}

/** Deletes and session-ending calls last, so the fixtures live through the rest. */
const ORDER = (op: Operation) => (op.path.includes('logout') ? 2 : op.method === 'DELETE' ? 1 : 0);
const OPERATIONS: Operation[] = Object.entries(SPEC.paths)
  .flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => {
      const content = op.requestBody ? Object.entries(op.requestBody.content)[0] : undefined;
      return {
        method: method.toUpperCase(),
        path,
        operationId: op.operationId,
        parameters: op.parameters ?? [],
        ...(content ? { body: { contentType: content[0], schema: content[1].schema } } : {}),
      };
    }),
  )
  .sort((a, b) => ORDER(a) - ORDER(b));

/** Operations that hash passwords (slow by design) get fewer runs. */
const HASHING = new Set([
  'UsersController_create_v1',
  'UsersController_update_v1',
  'AuthController_register_v1',
  'AuthController_login_v1',
]);

// ---------------------------------------------------------------------------------------------

type Identity = 'anonymous' | 'user' | 'admin' | 'forged';

interface World {
  /** Ids of existing resources by the collection they belong to (`vms`, `users`, ...). */
  ids: Record<string, string[]>;
  /** Where outbound-capable fields (webhooks, agents, libvirt URIs) may point: loopback only. */
  scratchDir: string;
}

/** Loopback-only values for fields that make the api connect or write somewhere. */
function outboundField(name: string, world: World): fc.Arbitrary<unknown> | undefined {
  if (/^(url|agentUrl)$/.test(name))
    return fc.oneof(
      fc.constantFrom('http://127.0.0.1:1/hook', 'http://[::1]:1/x', 'https://127.0.0.1:1'),
      hostileString(100).filter((s) => !/^[a-z+]+:\/\//i.test(s)),
    );
  if (name === 'libvirtUri')
    return fc.oneof(
      fc.constantFrom(
        'qemu+tcp://127.0.0.1:1/system',
        'qemu+ssh://nobody@127.0.0.1:1/system',
        'qemu+unix:///system?socket=/nonexistent',
      ),
      hostileString(100).filter((s) => !/^qemu/i.test(s)),
    );
  if (name === 'stateDir')
    return fc.oneof(
      fc.constant(join(world.scratchDir, 'qemu-direct')),
      hostileString(100).filter((s) => !s.startsWith('/')),
    );
  if (name === 'recipients')
    return fc.array(fc.oneof(fc.constant('ops@localhost'), hostileString(60)), { minLength: 0, maxLength: 3 });
  return undefined;
}

function stringFor(name: string, schema: Schema, world: World): fc.Arbitrary<unknown> {
  const pool = (collection: string) =>
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom(...(world.ids[collection]?.length ? world.ids[collection] : [randomUUID()])),
      },
      { weight: 1, arbitrary: fc.uuid() },
    );
  if (name === 'imageId') return pool('images');
  if (name === 'hostId') return pool('hosts');
  if (name === 'ownerId' || name === 'actorId') return pool('owners');
  if (name === 'targetId') return pool('vms');
  if (schema.format === 'uuid') return fc.uuid();
  if (schema.format === 'date-time' || name === 'until' || name === 'from' || name === 'to')
    return fc
      .date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true })
      .map((d) => d.toISOString());
  const options: Array<fc.WeightedArbitrary<unknown>> = [];
  if (schema.example !== undefined) options.push({ weight: 2, arbitrary: fc.constant(schema.example) });
  if (schema.pattern) {
    try {
      // Not filtered by length: a pattern's strings may never reach minLength (a filter would spin).
      options.push({ weight: 2, arbitrary: fc.stringMatching(new RegExp(schema.pattern)) });
    } catch {
      // a pattern JavaScript cannot compile: the example and plain strings cover the field
    }
  }
  options.push({
    weight: 1,
    arbitrary: fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 40, 300) }),
  });
  return fc.oneof(...options);
}

/** A value the schema describes (well, mostly: patterns and cross-field rules are not modelled). */
function valueFor(name: string, raw: Schema, world: World, depth = 0): fc.Arbitrary<unknown> {
  const schema = resolve(raw);
  const outbound = outboundField(name, world);
  let arb: fc.Arbitrary<unknown>;
  if (outbound) arb = outbound;
  else if (schema.enum) arb = fc.constantFrom(...schema.enum);
  else if (schema.type === 'string') arb = stringFor(name, schema, world);
  else if (schema.type === 'integer' || schema.type === 'number') {
    const min = schema.minimum ?? 0;
    const max = schema.maximum ?? Math.max(min + 100, 1_000);
    arb = fc.oneof(
      fc.integer({ min: Math.ceil(min), max: Math.floor(Math.min(max, min + 10)) }),
      fc.integer({ min: Math.ceil(min), max: Math.floor(max) }),
    );
  } else if (schema.type === 'boolean') arb = fc.boolean();
  else if (schema.type === 'array')
    arb = fc.array(valueFor(name, schema.items ?? {}, world, depth + 1), {
      minLength: schema.minItems ?? 0,
      maxLength: Math.min(schema.maxItems ?? 4, 4),
    });
  else if (schema.type === 'object' || schema.properties) {
    if (depth > 3 || !schema.properties) arb = fc.constant({});
    else {
      const props = Object.fromEntries(
        Object.entries(schema.properties).map(([key, sub]) => [key, valueFor(key, sub, world, depth + 1)]),
      );
      arb = fc.record(props, { requiredKeys: (schema.required ?? []).filter((k) => k in props) });
    }
  } else arb = fc.jsonValue({ maxDepth: 2 });
  return schema.nullable ? fc.option(arb, { nil: null, freq: 8 }) : arb;
}

/** Only the required members, each at its smallest: the request most likely to be accepted (and to create something). */
function minimalBody(raw: Schema, world: World): fc.Arbitrary<unknown> {
  const schema = resolve(raw);
  const required = (schema.required ?? []).filter((key) => schema.properties?.[key]);
  const smallest = (key: string, sub: Schema): fc.Arbitrary<unknown> => {
    const s = resolve(sub);
    if (s.type === 'integer' || s.type === 'number') return fc.constant(s.minimum ?? 0);
    if (s.type === 'array')
      return fc.array(valueFor(key, s.items ?? {}, world), { minLength: s.minItems ?? 0, maxLength: s.minItems ?? 0 });
    return valueFor(key, s, world);
  };
  return fc.record(Object.fromEntries(required.map((key) => [key, smallest(key, schema.properties![key])])));
}

/** The schema-shaped body with one field broken: wrong type, hostile text, missing, or an extra (polluting) member. */
function mutatedBody(schema: Schema, world: World): fc.Arbitrary<unknown> {
  const resolved = resolve(schema);
  const keys = Object.keys(resolved.properties ?? {});
  return fc
    .tuple(
      valueFor('body', schema, world),
      fc.constantFrom(...(keys.length ? keys : ['x'])),
      fc.integer({ min: 0, max: 3 }),
      wrongTypeValue,
      hostileString(2000),
      hostileKey,
      fc.jsonValue({ maxDepth: 2 }),
    )
    .map(([body, key, how, wrong, hostile, extraKey, extra]) => {
      if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
      const copy: Record<string, unknown> = { ...(body as Record<string, unknown>) };
      if (how === 0) copy[key] = wrong;
      else if (how === 1) copy[key] = hostile;
      else if (how === 2) delete copy[key];
      // defineProperty: `__proto__` stays an own member, as JSON.parse would make it.
      else
        Object.defineProperty(copy, extraKey, { value: extra, enumerable: true, configurable: true, writable: true });
      return copy;
    });
}

/** Bodies no schema describes: broken JSON, deep nesting, over the 1 MB limit, a BOM. */
const malformedBody: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '{',
    '{"a":',
    '[1,]',
    'nul',
    '"unterminated',
    '{"a":1}}',
    '\ufeff{}',
    '{"a":NaN}',
    "{'a':1}",
    '{"__proto__":{"isAdmin":true}}',
    '{"constructor":{"prototype":{"polluted":1}}}',
    '',
  ),
  fc.integer({ min: 1_000, max: 60_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
  fc.integer({ min: 1_000, max: 30_000 }).map((depth) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)),
  fc.constant(`{"a":"${'x'.repeat(1_100_000)}"}`),
  fc.string({ unit: 'binary', maxLength: 200 }),
);

function bodyFor(op: Operation, world: World): fc.Arbitrary<{ text?: string; contentType?: string }> {
  const json = (value: unknown) => {
    const text = JSON.stringify(value);
    return text === undefined ? {} : { text, contentType: 'application/json' };
  };
  const contentType = fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'application/xml',
    'application/json; charset=utf-16',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
    'application/merge-patch+json',
    '*/*',
    'gibberish',
  );
  const arbitrary: Array<fc.WeightedArbitrary<{ text?: string; contentType?: string }>> = [
    { weight: 1, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map(json) },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }).map(json) },
    { weight: 1, arbitrary: malformedBody.map((text) => ({ text, contentType: 'application/json' })) },
  ];
  if (op.body?.contentType === 'application/json') {
    arbitrary.push({ weight: 5, arbitrary: valueFor('body', op.body.schema, world).map(json) });
    arbitrary.push({ weight: 3, arbitrary: minimalBody(op.body.schema, world).map(json) });
    arbitrary.push({ weight: 5, arbitrary: mutatedBody(op.body.schema, world).map(json) });
    arbitrary.push({
      weight: 1,
      arbitrary: fc
        .tuple(valueFor('body', op.body.schema, world), contentType)
        .map(([value, type]) => ({ ...json(value), contentType: type })),
    });
  }
  if (op.body?.contentType === 'application/octet-stream') {
    arbitrary.push({
      weight: 4,
      arbitrary: fc
        .tuple(fc.uint8Array({ maxLength: 4096 }), contentType)
        .map(([bytes, type]) => ({ text: Buffer.from(bytes).toString('latin1'), contentType: type })),
    });
  }
  return fc.oneof(...arbitrary);
}

/** encodeURIComponent, except that a lone surrogate (which it cannot encode) becomes invalid UTF-8 on the wire. */
const encode = (text: string) =>
  Array.from(text, (c) => (/^[\ud800-\udfff]$/.test(c) ? '%ED%A0%80' : encodeURIComponent(c))).join('');

/** Raw path pieces (sent unencoded): traversal, NUL, broken escapes, overlong. */
const RAW_SEGMENTS = [
  '%00',
  '..',
  '.',
  '%2e%2e',
  '..%2f..%2fetc%2fpasswd',
  '%2F',
  '%zz',
  '%',
  '%ff',
  '%c0%ae',
  ';',
  '%20',
  'a'.repeat(5000),
  '%E2%80%AE',
  'null',
  '-1',
  '0',
  '',
];

function pathSegment(collection: string, world: World): fc.Arbitrary<string> {
  const existing = world.ids[collection] ?? [];
  return fc.oneof(
    { weight: 4, arbitrary: existing.length ? fc.constantFrom(...existing) : fc.uuid() },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 2, arbitrary: hostileString(300).map(encode) },
    { weight: 1, arbitrary: fc.constantFrom(...RAW_SEGMENTS) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.uuid(), fc.constantFrom('%00', '/..', '/../..', '.json', '%0a', '?x=1', '#x'))
        .map(([id, tail]) => id + tail),
    },
  );
}

function queryValue(param: Parameter, world: World): fc.Arbitrary<string | string[]> {
  const schema = resolve(param.schema ?? {});
  const single: fc.Arbitrary<string> = fc.oneof(
    {
      weight: 4,
      arbitrary: valueFor(param.name, schema, world).map((v) =>
        typeof v === 'string' ? v : (JSON.stringify(v) ?? ''),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '-1',
        '0',
        '1e9',
        '99999999999999999999',
        '1.5',
        'NaN',
        'Infinity',
        '',
        'true',
        '[]',
        '{}',
      ),
    },
    { weight: 2, arbitrary: hostileString(300) },
  );
  // ?x=1&x=2 arrives as an array
  return fc.oneof(
    { weight: 6, arbitrary: single },
    { weight: 1, arbitrary: fc.array(single, { minLength: 2, maxLength: 3 }) },
  );
}

const headerSafe = (s: string) => s.replace(/[^\x20-\x7e]/g, '');
// Long, but all headers together stay under Node's 16 KiB limit (beyond it Node itself answers 431).
const headerValue = fc.oneof(
  fc.uuid(),
  fc.string({ maxLength: 40 }).map(headerSafe),
  hostileString(200).map(headerSafe),
  fc.constantFrom('', ' ', '*', '"1"', 'W/"1"', '"999999"', '"-1"', 'x'.repeat(2000)),
);

const sometimes = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });

interface Generated {
  identity: Identity;
  method: string;
  pathParams: Record<string, string>;
  query: Array<[string, string | string[]]>;
  headers: Record<string, string>;
  body: { text?: string; contentType?: string };
  forgedToken: string;
}

/** The collection a path parameter belongs to: `/vms/{id}` → vms, `/vms/{vmId}/snapshots/{snapshotId}` → vms and snapshots. */
function collectionOf(path: string, param: string): string {
  const segments = path.split('/');
  const index = segments.indexOf(`{${param}}`);
  return segments[index - 1] === 'quota' ? 'users' : segments[index - 1];
}

function requestFor(op: Operation, world: World): fc.Arbitrary<Generated> {
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  return fc.record({
    identity: fc.constantFrom<Identity>('anonymous', 'user', 'user', 'admin', 'admin', 'forged'),
    // Mostly the documented method; sometimes another, which must be a clean 404/405.
    method: fc.oneof(
      { weight: 12, arbitrary: fc.constant(op.method) },
      { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD') },
    ),
    pathParams: fc.record(
      Object.fromEntries(pathParams.map((p) => [p.name, pathSegment(collectionOf(op.path, p.name), world)])),
    ),
    query: fc
      .tuple(
        fc
          .subarray(queryParams)
          .chain((chosen) =>
            fc.tuple(...chosen.map((p) => queryValue(p, world).map((v) => [p.name, v] as [string, string | string[]]))),
          ),
        fc.option(fc.tuple(hostileKey.map(headerSafe), fc.string({ maxLength: 20 })), { freq: 6, nil: undefined }),
      )
      .map(([documented, extra]) => (extra ? [...documented, extra] : documented)),
    // Each header in about one request of four, so the rest of the request gets a chance too.
    headers: fc
      .record({
        'idempotency-key': sometimes(headerValue),
        'if-match': sometimes(headerValue),
        'last-event-id': sometimes(headerValue),
        accept: sometimes(
          fc.constantFrom('application/json', 'text/event-stream', '*/*', 'application/xml', 'text/html'),
        ),
        'x-forwarded-for': sometimes(fc.constantFrom('127.0.0.1', '::1', 'not-an-ip', '10.0.0.1, 127.0.0.1')),
      })
      .map(
        (headers) =>
          Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== undefined)) as Record<
            string,
            string
          >,
      ),
    body:
      op.body || op.method !== 'GET'
        ? bodyFor(op, world)
        : fc.oneof({ weight: 6, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: bodyFor(op, world) }),
    forgedToken: fc.oneof(
      fc.constantFrom(
        'Bearer ',
        'Bearer x.y.z',
        'Basic YWRtaW46YWRtaW4=',
        'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIn0.',
      ),
      fc.string({ maxLength: 200 }).map((s) => `Bearer ${headerSafe(s)}`),
    ),
  });
}

function toRaw(op: Operation, g: Generated, tokens: Record<'user' | 'admin', string>): RawRequest {
  const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => g.pathParams[name]);
  const query = g.query
    .flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${encode(name)}=${encode(v)}`))
    .join('&');
  const headers: Record<string, string> = { ...g.headers };
  if (g.identity === 'user' || g.identity === 'admin') headers.authorization = `Bearer ${tokens[g.identity]}`;
  if (g.identity === 'forged') headers.authorization = g.forgedToken;
  if (g.body.contentType) headers['content-type'] = g.body.contentType;
  return { method: g.method, path: query ? `${path}?${query}` : path, headers, body: g.body.text };
}

// ---------------------------------------------------------------------------------------------

/** Codes that say a dependency is away (no agent runs here; other suites restart libvirtd): a 5xx, but not a crash. */
const DEPENDENCY_DOWN = new Set([
  'AGENT_UNAVAILABLE',
  'HYPERVISOR_UNAVAILABLE',
  'SERVICE_UNAVAILABLE',
  'DATABASE_UNAVAILABLE',
]);
const STACK_TRACE = /\n\s+at [^\n]+:\d+:\d+|\bat [\w.<>]+ \([^)]*\.(ts|js):\d+/;

function assertWellBehaved(req: RawRequest, res: RawResponse): void {
  const where = `${req.method} ${req.path.slice(0, 300)} → ${res.status} ${res.text.slice(0, 500)}`;
  if (res.status >= 500) {
    const code = (() => {
      try {
        return JSON.parse(res.text).code as string;
      } catch {
        return undefined;
      }
    })();
    // A HEAD answer has no body to read the code from: its status and media type must be those
    // of a dependency-down problem (502 or 503, problem+json), as its GET's would be.
    const headOfDependencyDown =
      req.method === 'HEAD' &&
      [502, 503].includes(res.status) &&
      String(res.headers['content-type']).startsWith('application/problem+json');
    if (!headOfDependencyDown && !(res.status !== 500 && code && DEPENDENCY_DOWN.has(code)))
      throw new Error(`server error: ${where}`);
  }
  expect([where, STACK_TRACE.test(res.text)]).toEqual([where, false]);
  if (res.status >= 400 && req.method !== 'HEAD') {
    expect([where, String(res.headers['content-type'])]).toEqual([
      where,
      expect.stringMatching(/^application\/problem\+json/),
    ]);
    const body = JSON.parse(res.text);
    expect([where, body.status, body.code]).toEqual([where, res.status, expect.stringMatching(/^[A-Z][A-Z0-9_]*$/)]);
  }
}

/** fast-check's own report prints megabyte-long counterexamples; this one keeps the seed and the gist. */
function conciseReport(details: fc.RunDetails<[Generated]>): void {
  if (!details.failed) return;
  const [g] = details.counterexample ?? [];
  const gist = g && {
    ...g,
    pathParams: Object.fromEntries(Object.entries(g.pathParams).map(([k, v]) => [k, v.slice(0, 120)])),
    headers: Object.fromEntries(Object.entries(g.headers).map(([k, v]) => [k, v.slice(0, 80)])),
    body: { contentType: g.body.contentType, length: g.body.text?.length, start: g.body.text?.slice(0, 160) },
  };
  const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  throw new Error(
    `Property failed after ${details.numRuns} runs (seed ${details.seed}, path "${details.counterexamplePath}"; replay with FC_SEED/FC_PATH)\nCounterexample: ${JSON.stringify(gist)}\nCause: ${cause.slice(0, 1500)}`,
  );
}

describe('property: no HTTP input crashes the api or yields a 500', () => {
  let t: TestApp;
  let base: string;
  let db: DataSource;
  const tokens = { user: '', admin: '' };
  const world: World = { ids: {}, scratchDir: '' };
  const crashes: unknown[] = [];
  const onCrash = (error: unknown) => crashes.push(error);
  const tally = {
    requests: 0,
    byStatus: {} as Record<string, number>,
    serverSideCodes: {} as Record<string, number>,
    slowestMs: 0,
    slowest: '',
    vmCreatesAccepted: 0,
  };
  /** Audit inserts that failed: a hostile request must still leave its record. */
  const lostAuditRecords: string[] = [];
  let alice: { id: string; password: string };

  async function relogin(): Promise<void> {
    tokens.user = (await login(t.http, 'alice', alice.password)).accessToken;
    tokens.admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
  }

  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
  });

  async function settleOperations(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const [{ busy }] = await db.query(
        `SELECT count(*)::int AS busy FROM operations WHERE status IN ('pending', 'running')`,
      );
      if (busy === 0) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error('operations still pending or running after the fuzzing stopped');
  }

  beforeAll(async () => {
    process.on('unhandledRejection', onCrash);
    process.on('uncaughtException', onCrash);
    // Small quotas bound what an accidental create can start; logins that fail on purpose must not lock anyone out.
    t = await startTestApp({
      DEFAULT_QUOTA_VMS: '2',
      DEFAULT_QUOTA_VCPUS: '2',
      DEFAULT_QUOTA_MEMORY_MIB: '256',
      DEFAULT_QUOTA_DISK_GIB: '2',
      DEFAULT_QUOTA_SNAPSHOTS: '2',
      LOCKOUT_THRESHOLD: '1000',
      REGISTRATION: 'approval',
    });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    db = t.app.get(DataSource);
    const audit = t.app.get<Repository<AuditEntry>>(getRepositoryToken(AuditEntry));
    const save = audit.save.bind(audit);
    audit.save = (async (...args: Parameters<typeof save>) => {
      try {
        return await save(...args);
      } catch (error) {
        lostAuditRecords.push(String(error).slice(0, 300));
        throw error;
      }
    }) as typeof audit.save;
    world.scratchDir = join(t.data.sandbox.imageDir, '..', 'scratch');
    mkdirSync(world.scratchDir, { recursive: true, mode: 0o755 });

    const admin = await login(t.http, ADMIN.username, ADMIN.password);
    const created = await createUser(t.http, admin.accessToken, 'alice');
    alice = { id: created.id, password: created.password };
    // Victims for the user-changing admin routes, so alice and the admin keep working.
    const victims = await Promise.all(
      ['victim-1', 'victim-2', 'victim-3'].map((name) => createUser(t.http, admin.accessToken, name)),
    );
    await relogin();
    writeFileSync(join(t.data.sandbox.imageDir, 'fuzz-media.iso'), Buffer.alloc(2048));
    const images = (await as(tokens.admin).post('/api/v1/images/rescan').expect(200)).body.items as Array<{
      id: string;
      name: string;
    }>;
    const kernel = images.find((i) => i.name === KERNEL_IMAGE_NAME)!;
    // One real VM (stopped) with a snapshot, so existing-resource paths reach deep into the services.
    const vm = await as(tokens.user)
      .post('/api/v1/vms')
      .send({ name: 'fixture', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId: kernel.id, start: false })
      .expect(202);
    const createOp = vm.headers.location as string;
    expect((await as(tokens.user).get(`${createOp}/wait?timeout=60`).expect(200)).body.status).toBe('succeeded');
    const snap = await as(tokens.user)
      .post(`/api/v1/vms/${vm.body.vm.id}/snapshots`)
      .send({ name: 'fixture-snap' })
      .expect(202);
    expect((await as(tokens.user).get(`${snap.headers.location}/wait?timeout=60`).expect(200)).body.status).toBe(
      'succeeded',
    );
    const hosts = (await as(tokens.admin).get('/api/v1/hosts').expect(200)).body.items as Array<{ id: string }>;
    const victimHost = await as(tokens.admin)
      .post('/api/v1/hosts')
      .send({ name: 'victim-host', adapter: 'libvirt', libvirtUri: 'qemu+tcp://127.0.0.1:1/system', enabled: false });
    const rule = await as(tokens.admin)
      .post('/api/v1/alert-rules')
      .send({ name: 'fuzz rule', metric: 'host.disk.percent', comparator: '>=', threshold: 101, enabled: false });
    const channel = await as(tokens.admin).post('/api/v1/alert-channels').send({ name: 'fuzz channel', type: 'log' });
    world.ids = {
      vms: [vm.body.vm.id],
      snapshots: [snap.body.snapshot?.id ?? randomUUID()],
      operations: [createOp.split('/').pop()!],
      users: victims.map((v) => v.id),
      owners: [alice.id, ...victims.map((v) => v.id)],
      images: images.map((i) => i.id),
      hosts: [...hosts.map((h) => h.id), victimHost.body.id].filter(Boolean),
      'alert-rules': [rule.body.id].filter(Boolean),
      'alert-channels': [channel.body.id].filter(Boolean),
      alerts: [],
    };
  }, 180_000);

  afterAll(async () => {
    process.off('unhandledRejection', onCrash);
    process.off('uncaughtException', onCrash);
    if (t) {
      // Remove every VM the fuzzing created, through the api, then make sure no domain is left.
      const ids: Array<{ id: string }> = await db.query(`SELECT id FROM vms`);
      await relogin().catch(() => undefined);
      for (const { id } of ids) {
        const del = await as(tokens.admin).post(`/api/v1/vms/${id}/actions`).send({ action: 'stop' });
        if (del.status === 202) await as(tokens.admin).get(`${del.headers.location}/wait?timeout=60`);
        const res = await request(t.http).delete(`/api/v1/vms/${id}`).auth(tokens.admin, { type: 'bearer' });
        if (res.status === 202) await as(tokens.admin).get(`${res.headers.location}/wait?timeout=60`);
      }
      for (const { id } of ids) {
        virsh('destroy', `limen-${id}`);
        virsh('undefine', `limen-${id}`, '--snapshots-metadata');
      }
      await t.close();
    }
    console.log(`property-http-surface: ${JSON.stringify(tally)}`);
  }, 300_000);

  // FC_ONLY=<regex on "METHOD /path"> narrows a run to some operations while debugging.
  it.each(
    OPERATIONS.filter((op) => new RegExp(process.env.FC_ONLY ?? '').test(`${op.method} ${op.path}`)).map(
      (op) => [`${op.method} ${op.path}`, op] as const,
    ),
  )(
    '%s',
    async (_label, op) => {
      // logout-all (and a fuzzed PATCH of one's own account) may revoke tokens: start each operation signed in.
      await relogin();
      const runs = HASHING.has(op.operationId) ? Math.ceil(RUNS_PER_OPERATION / 3) : RUNS_PER_OPERATION;
      await fc.assert(
        fc.asyncProperty(requestFor(op, world), async (generated) => {
          const req = toRaw(op, generated, tokens);
          progress(
            `> ${req.method} ${req.path.slice(0, 160)} [${generated.identity}] body=${(req.body ?? '').length}B`,
          );
          const res = await sendRaw(base, req);
          progress(`< ${res.status} ${res.ms} ms ${res.status >= 400 ? res.text.slice(0, 300) : ''}`);
          tally.requests++;
          tally.byStatus[res.status] = (tally.byStatus[res.status] ?? 0) + 1;
          if (res.status >= 500) {
            const code = `${res.status} ${res.text.match(/"code":"(\w+)"/)?.[1]}`;
            tally.serverSideCodes[code] = (tally.serverSideCodes[code] ?? 0) + 1;
          }
          if (res.ms > tally.slowestMs)
            Object.assign(tally, { slowestMs: res.ms, slowest: `${req.method} ${req.path.slice(0, 120)}` });
          if (op.operationId === 'VmsController_create_v1' && res.status === 202) tally.vmCreatesAccepted++;
          assertWellBehaved(req, res);
          if (op.path.includes('logout') && res.status < 300) await relogin();
        }),
        {
          numRuns: runs,
          reporter: conciseReport,
          ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH } : {}),
        },
      );
      expect(crashes).toEqual([]);
      expect(lostAuditRecords).toEqual([]);
    },
    120_000,
  );

  it('the console WebSocket and the routes outside the spec refuse hostile input cleanly', async () => {
    await relogin();
    const vmId = world.ids.vms[0];
    const ticket = await as(tokens.user).post(`/api/v1/vms/${vmId}/console`).send({ type: 'serial' });
    const tickets = [ticket.body.ticket, randomUUID(), 'x'.repeat(300)].filter(
      (v): v is string => typeof v === 'string',
    );
    const target = fc.oneof(
      fc.record({
        kind: fc.constant('socket' as const),
        vm: fc.oneof(fc.constant(vmId), pathSegment('vms', world)),
        ticket: fc.oneof(fc.constantFrom(...tickets), hostileString(200)),
        upgrade: fc.boolean(),
        key: fc.oneof(fc.constant('dGhlIHNhbXBsZSBub25jZQ=='), fc.constant(''), hostileString(40).map(headerSafe)),
      }),
      fc.record({
        kind: fc.constant('page' as const),
        path: fc
          .tuple(
            fc.constantFrom(
              '/console/',
              '/console/assets/',
              '/console/assets/xterm/',
              '/docs/',
              '/docs-json',
              '/metrics',
              '/agent/',
              '/api/v2/',
              '/',
              '/api/v1/console/',
            ),
            pathSegment('vms', world),
          )
          .map(([prefix, rest]) => prefix + rest),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        target,
        fc.constantFrom<'anonymous' | 'user' | 'admin'>('anonymous', 'user', 'admin'),
        async (probe, identity) => {
          const headers: Record<string, string> =
            identity === 'anonymous' ? {} : { authorization: `Bearer ${tokens[identity]}` };
          const req: RawRequest =
            probe.kind === 'socket'
              ? {
                  method: 'GET',
                  path: `/api/v1/console/ws/${probe.vm}?ticket=${encode(probe.ticket)}`,
                  headers: {
                    ...headers,
                    ...(probe.upgrade
                      ? {
                          connection: 'Upgrade',
                          upgrade: 'websocket',
                          'sec-websocket-version': '13',
                          'sec-websocket-key': probe.key,
                        }
                      : {}),
                  },
                }
              : { method: 'GET', path: probe.path, headers };
          progress(
            `> ${req.method} ${req.path.slice(0, 160)} [${identity}] upgrade=${probe.kind === 'socket' && probe.upgrade}`,
          );
          // A handshake or page that never answers is a failure as much as a 500 (sendRaw rejects after 15 s).
          const res = await sendRaw(base, req, 15_000);
          progress(`< ${res.status} ${res.ms} ms ${res.status >= 400 ? res.text.slice(0, 300) : ''}`);
          tally.requests++;
          tally.byStatus[res.status] = (tally.byStatus[res.status] ?? 0) + 1;
          assertWellBehaved(req, res);
        },
      ),
      {
        numRuns: RUNS_PER_OPERATION * 3,
        ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH } : {}),
      },
    );
    expect(crashes).toEqual([]);
    expect(lostAuditRecords).toEqual([]);
  }, 120_000);

  it('is alive afterwards, and everything it accepted is accounted for', async () => {
    expect(crashes).toEqual([]);
    expect(lostAuditRecords).toEqual([]);
    await request(t.http).get('/health/live').expect(200);
    await relogin();
    await as(tokens.user).get('/api/v1/vms').expect(200);
    // Every accepted operation ends (the runner settles even the fuzzed ones)...
    await settleOperations(150_000);
    const vms: Array<{
      id: string;
      owner_id: string;
      state: string;
      vcpus: number;
      memory_mib: number;
      disk_gib: number;
    }> = await db.query(`SELECT id, owner_id, state, vcpus, memory_mib, disk_gib FROM vms`);
    // ...no VM is left half-created or half-deleted...
    for (const vm of vms)
      expect([vm.id, vm.state]).toEqual([vm.id, expect.not.stringMatching(/^(provisioning|deleting)$/)]);
    // ...each VM row has its domain and its disk volumes, and no domain or file of the VM pool lacks its row...
    const domains = virsh('list', '--all', '--name')
      .stdout.split('\n')
      .map((l) => l.trim())
      .filter((n) => n.startsWith('limen-'));
    const ours = domains.filter((name) => virsh('domblklist', name).stdout.includes(`${t.vmDir}/`));
    expect(ours.sort()).toEqual(vms.map((vm) => `limen-${vm.id}`).sort());
    // A VM's files lie flat in the VM pool (VM_DIR here), each named after its VM's id first.
    const files = existsSync(t.vmDir) ? readdirSync(t.vmDir) : [];
    expect(poolEntriesByVm(t.vmDir)).toEqual(vms.map((vm) => vm.id).sort());
    const volumes: Array<{ volume: string }> = await db.query(`SELECT volume FROM vm_disks`);
    expect(volumes.filter(({ volume }) => !files.includes(volume))).toEqual([]);
    // ...and each owner's quota usage is the sum of their VMs and snapshots (charged to the MiB), within its limits.
    for (const owner of new Set([alice.id, ...vms.map((vm) => vm.owner_id)])) {
      const quota = (await as(tokens.admin).get(`/api/v1/users/${owner}/quota`).expect(200)).body;
      const mine = vms.filter((vm) => vm.owner_id === owner);
      const [{ mib: snapshotMiB }] = await db.query(
        `SELECT coalesce(sum(size_mib), 0)::int AS mib FROM snapshots WHERE owner_id = $1`,
        [owner],
      );
      expect({
        owner,
        vms: quota.usage.vms,
        vcpus: quota.usage.vcpus,
        memoryMiB: quota.usage.memoryMiB,
        diskGiB: quota.usage.diskGiB,
      }).toEqual({
        owner,
        vms: mine.length,
        vcpus: mine.reduce((s, vm) => s + vm.vcpus, 0),
        memoryMiB: mine.reduce((s, vm) => s + vm.memory_mib, 0),
        diskGiB: mine.reduce((s, vm) => s + vm.disk_gib, 0) + snapshotMiB / 1024,
      });
    }
    rmSync(world.scratchDir, { recursive: true, force: true });
  }, 240_000);
});
