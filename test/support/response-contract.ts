import Ajv2020, { ErrorObject, ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { join } from 'node:path';

/**
 * Checks every response the e2e suites receive against docs/openapi.json: the status must be
 * declared for the operation, every application header declared (and the required ones present),
 * and a JSON body valid against the declared schema. A response whose body cannot be validated as
 * JSON (an event stream, a PNG, plain text) still needs its status and content type declared.
 */

// The parts of an OpenAPI 3.1 document this checker reads.
interface Schema {
  [keyword: string]: unknown;
}
interface HeaderObject {
  required?: boolean;
  schema?: Schema;
}
interface ResponseObject {
  headers?: Record<string, HeaderObject | Reference>;
  content?: Record<string, { schema?: Schema }>;
}
interface Reference {
  $ref: string;
}
interface Operation {
  responses: Record<string, ResponseObject | Reference>;
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components?: {
    schemas?: Record<string, Schema>;
    responses?: Record<string, ResponseObject>;
    headers?: Record<string, HeaderObject>;
  };
}

/** One exchange as the client saw it. */
export interface Exchange {
  method: string;
  /** The request target as sent (path and query). */
  url: string;
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** Undefined when the body was not kept (a stream). */
  body?: Buffer;
}

/**
 * Headers of HTTP itself, of CORS and of the browser security policy (helmet), which every
 * response may carry and OpenAPI does not describe (it ignores a declared Content-Type).
 * Anything else the API sends (X-Request-Id, Location, ETag, Retry-After, rate limits, Allow,
 * WWW-Authenticate) must be declared on the response that carries it.
 */
const PROTOCOL_HEADERS = new Set([
  'content-type',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'date',
  'vary',
  'cache-control',
  'content-disposition',
  'content-security-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
]);
const CORS_HEADER = /^access-control-/;

/**
 * Pages and files served beside the API and deliberately left out of the spec (its controllers
 * are @ApiExcludeController): Swagger UI and the spec itself, the Prometheus scrape and the
 * browser console page with its scripts.
 */
const OUTSIDE_THE_SPEC = [/^\/docs(-json)?(\/|$)/, /^\/metrics$/, /^\/console\//];
/** The dashboard (apps/web/, apps/api/src/web/dashboard.ts): its files and index.html, GET only, beside the api's paths. */
const DASHBOARD = /^\/(?!(api|health|metrics|console|agent|docs)(\/|-|$))/;

/** A path no operation serves (or a method a path lacks) must be refused like this. */
const NO_ROUTE_STATUSES = new Set([404, 405]);
const PROBLEM_TYPE = 'application/problem+json';

interface Route {
  template: string;
  pattern: RegExp;
  params: number;
}

export class ResponseContract {
  private readonly ajv: Ajv2020;
  private readonly routes: Route[];
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(private readonly spec: OpenApiDocument) {
    this.ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: true });
    addFormats(this.ajv);
    this.ajv.addSchema({
      $id: 'openapi.json',
      components: {
        schemas: Object.fromEntries(
          Object.entries(spec.components?.schemas ?? {}).map(([name, schema]) => [name, closeObjects(schema)]),
        ),
      },
    });
    // Literal segments win over parameters: /images/rescan before /images/{id}.
    this.routes = Object.keys(spec.paths)
      .map((template) => ({
        template,
        pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
        params: (template.match(/\{/g) ?? []).length,
      }))
      .sort((a, b) => a.params - b.params);
  }

  static fromFile(path = join(__dirname, '..', '..', 'docs', 'openapi.json')): ResponseContract {
    return new ResponseContract(JSON.parse(readFileSync(path, 'utf8')) as OpenApiDocument);
  }

  /** The ways `exchange` breaks the contract; empty when it keeps it. */
  check(exchange: Exchange): string[] {
    const path = exchange.url.split('?')[0];
    const where = `${exchange.method} ${path} -> ${exchange.status}`;
    // CORS preflights are answered by the CORS protocol, not by an operation.
    if (exchange.method === 'OPTIONS') return [];
    const route = this.routes.find((r) => r.pattern.test(path));
    const method = exchange.method === 'HEAD' ? 'get' : exchange.method.toLowerCase();
    const operation = route ? this.spec.paths[route.template][method] : undefined;
    if (!route || !operation) {
      if (!route && OUTSIDE_THE_SPEC.some((p) => p.test(path))) return [];
      if (!route && method === 'get' && exchange.status === 200 && DASHBOARD.test(path)) return [];
      return this.checkNoRoute(where, exchange);
    }
    const key = String(exchange.status);
    const response = this.resolve<ResponseObject>(
      operation.responses[key] ?? operation.responses[`${key[0]}XX`] ?? operation.responses.default,
    );
    const at = `${where} (${route.template})`;
    if (!response)
      return [
        `${at}: status ${exchange.status} is not declared (declared: ${Object.keys(operation.responses).join(', ')})`,
      ];
    return [
      ...this.checkHeaders(at, exchange, response),
      ...this.checkBody(at, exchange, response, `#/paths/${escapePointer(route.template)}/${method}/responses/${key}`),
    ];
  }

  /** Follows a `#/components/...` reference of the document. */
  private resolve<T>(item: T | Reference | undefined): T | undefined {
    if (!item || typeof (item as Reference).$ref !== 'string') return item as T | undefined;
    const path = (item as Reference).$ref.replace(/^#\//, '').split('/');
    return path.reduce<unknown>(
      (node, segment) => (node as Record<string, unknown> | undefined)?.[segment],
      this.spec,
    ) as T | undefined;
  }

  private checkNoRoute(where: string, exchange: Exchange): string[] {
    if (!NO_ROUTE_STATUSES.has(exchange.status))
      return [`${where}: no operation in the spec serves this request, yet it answered ${exchange.status}`];
    const problem = { content: { [PROBLEM_TYPE]: { schema: { $ref: '#/components/schemas/ProblemDto' } } } };
    return this.checkBody(where, exchange, problem, `#/no-route`);
  }

  private checkHeaders(at: string, exchange: Exchange, response: ResponseObject): string[] {
    const declared = new Map(
      Object.entries(response.headers ?? {}).map(([name, header]) => [
        name.toLowerCase(),
        this.resolve<HeaderObject>(header)!,
      ]),
    );
    const violations: string[] = [];
    for (const name of Object.keys(exchange.headers)) {
      if (PROTOCOL_HEADERS.has(name) || CORS_HEADER.test(name)) continue;
      if (!declared.has(name)) violations.push(`${at}: header ${name} is not declared`);
    }
    for (const [name, header] of declared) {
      const value = exchange.headers[name];
      if (value === undefined) {
        if (header.required) violations.push(`${at}: required header ${name} is missing`);
        continue;
      }
      if (header.schema) {
        const typed = header.schema.type === 'integer' || header.schema.type === 'number' ? Number(value) : value;
        const validate = this.validator(`header ${at} ${name}`, header.schema);
        if (!validate(typed))
          violations.push(
            `${at}: header ${name}: ${JSON.stringify(value)} ${describeErrors('value', validate.errors)}`,
          );
      }
    }
    return violations;
  }

  private checkBody(at: string, exchange: Exchange, response: ResponseObject, pointer: string): string[] {
    const sent = (exchange.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const content = response.content ?? {};
    const hasBody =
      exchange.method !== 'HEAD' &&
      exchange.status !== 204 &&
      exchange.status !== 304 &&
      (exchange.body === undefined || exchange.body.length > 0);
    if (!hasBody) return [];
    if (!sent) return [`${at}: a body without a Content-Type`];
    const media = content[sent];
    if (!media)
      return [`${at}: content type ${sent} is not declared (declared: ${Object.keys(content).join(', ') || 'none'})`];
    if (!isJson(sent) || !media.schema || exchange.body === undefined) return [];
    let body: unknown;
    try {
      body = JSON.parse(exchange.body.toString('utf8'));
    } catch {
      return [`${at}: the ${sent} body is not JSON`];
    }
    const validate = this.validator(`${pointer}/${sent}`, media.schema);
    if (validate(body)) return [];
    return [`${at}: ${describeErrors('body', validate.errors)}`];
  }

  /** Compiles a schema once; its $refs resolve against the document's components. */
  private validator(key: string, schema: Schema): ValidateFunction {
    let validate = this.validators.get(key);
    if (!validate) {
      validate = this.ajv.compile(closeObjects(rebaseRefs(schema)));
      this.validators.set(key, validate);
    }
    return validate;
  }
}

const SUBSCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const SUBSCHEMAS = ['items', 'additionalProperties', 'not'];

/**
 * A copy of `schema` in which every object with declared properties admits no others: the
 * published spec leaves objects open (clients should tolerate additions), but a field the server
 * sends and the spec does not name is exactly what this check exists to catch.
 */
function closeObjects(schema: Schema): Schema {
  const copy: Schema = { ...schema };
  if (isSchema(copy.properties)) {
    copy.properties = Object.fromEntries(
      Object.entries(copy.properties).map(([name, sub]) => [name, isSchema(sub) ? closeObjects(sub) : sub]),
    );
    if (copy.additionalProperties === undefined && copy.unevaluatedProperties === undefined)
      copy.unevaluatedProperties = false;
  }
  for (const key of SUBSCHEMA_LISTS)
    if (Array.isArray(copy[key]))
      copy[key] = (copy[key] as unknown[]).map((sub) => (isSchema(sub) ? closeObjects(sub) : sub));
  for (const key of SUBSCHEMAS) if (isSchema(copy[key])) copy[key] = closeObjects(copy[key]);
  return copy;
}

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Ajv's errors, naming the member that is not declared (ajv's own text leaves it out). */
function describeErrors(what: string, errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .map(
      (e) =>
        `${what}${e.instancePath} ${e.message}${e.keyword === 'unevaluatedProperties' ? `: ${String(e.params.unevaluatedProperty)}` : ''}`,
    )
    .join('; ');
}

function isJson(mediaType: string): boolean {
  return mediaType === 'application/json' || mediaType.endsWith('+json');
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** `#/components/...` inside an operation's schema means the document's; point it at the registered one. */
function rebaseRefs(schema: unknown): Schema {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) =>
    key === '$ref' && typeof value === 'string' && value.startsWith('#/') ? `openapi.json${value}` : value,
  ) as Schema;
}

/** Parses the header block Node actually sent, which also holds headers given to writeHead. */
function sentHeaders(res: ServerResponse): Record<string, string> {
  const raw = (res as unknown as { _header?: string | null })._header ?? '';
  const headers: Record<string, string> = {};
  for (const line of raw.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return headers;
}

let sharedContract: ResponseContract | undefined;
let enabled = false;
const violations: string[] = [];

/** Called by the e2e setup file (jest.e2e.config.js): from then on, every test app's server is watched. */
export function enableResponseContract(): void {
  enabled = true;
}

/** The violations recorded since the last call. */
export function takeViolations(): string[] {
  return violations.splice(0, violations.length);
}

/** Called by startTestApp for every app it starts; a no-op unless the e2e setup enabled the check. */
export function watchTestApp(server: Server): void {
  if (!enabled) return;
  sharedContract ??= ResponseContract.fromFile();
  watchResponses(server, sharedContract, (found) => violations.push(...found));
}

/**
 * Checks every response `server` sends against `contract`. It listens before the app does, so
 * responses from any layer (body parser, guards, filters, the last-resort 404) are seen alike.
 */
export function watchResponses(
  server: Server,
  contract: ResponseContract,
  record: (violations: string[]) => void,
): void {
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    // As sent: routers rewrite req.url on the way (a mounted prefix is stripped).
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const chunks: Buffer[] = [];
    let streamed = false;
    const keep = (chunk: unknown, encoding: unknown): void => {
      if (streamed || chunk === undefined || chunk === null || typeof chunk === 'function') return;
      if (String(res.getHeader('content-type') ?? '').startsWith('text/event-stream')) {
        streamed = true;
        return;
      }
      chunks.push(
        Buffer.isBuffer(chunk)
          ? chunk
          : Buffer.from(chunk as string, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'),
      );
    };
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.write = ((...args: unknown[]) => {
      keep(args[0], args[1]);
      return write(...args);
    }) as typeof res.write;
    res.end = ((...args: unknown[]) => {
      keep(args[0], args[1]);
      return end(...args);
    }) as typeof res.end;
    res.once('close', () => {
      if (!res.headersSent) return;
      const headers = sentHeaders(res);
      const isStream = streamed || (headers['content-type'] ?? '').startsWith('text/event-stream');
      const exchange: Exchange = {
        method,
        url,
        status: res.statusCode,
        headers,
        body: isStream ? undefined : Buffer.concat(chunks),
      };
      const found = contract.check(exchange);
      if (found.length > 0) record(found);
    });
  });
}
