import type { OpenAPIObject } from '@nestjs/swagger';
import type {
  HeaderObject,
  OperationObject,
  ReferenceObject,
  ResponseObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { problemResponse } from './api-problems.decorator';

/**
 * The rate limits (auth/rate-limit.ts) a route counts against, as an OpenAPI extension set by
 * AuthRoute(); any other /api route that can answer 429 counts against `api-user`.
 */
export const RATE_LIMITS_EXTENSION = 'x-rate-limits';
const DEFAULT_RATE_LIMITS = ['api-user'];

const HEADERS: Record<string, HeaderObject> = {
  'X-Request-Id': {
    description:
      "The request's id (the caller's X-Request-Id when it is sane, generated otherwise); problems echo it as `requestId`",
    required: true,
    schema: { type: 'string' },
  },
  Location: {
    description: 'The operation that carries the accepted work out: GET it, or GET its /wait',
    required: true,
    schema: { type: 'string', format: 'uri-reference' },
  },
  ETag: {
    description: "The resource's version (a VM's, a schedule's), for If-Match",
    required: true,
    schema: { type: 'string', pattern: '^"\\d+"$' },
  },
  'Retry-After': {
    description:
      'Seconds to wait before trying again: sent with RATE_LIMITED, ACCOUNT_LOCKED and TOO_MANY_STREAMS; not with UPLOAD_LIMIT or CONSOLE_SESSION_LIMIT, which end when an upload or a session does',
    schema: { type: 'integer', minimum: 1 },
  },
  'WWW-Authenticate': { description: 'The authentication scheme expected (Bearer)', schema: { type: 'string' } },
};

/** The headers the throttler sends for the limit `name` (only once the request reached it, so none is required). */
function rateLimitHeaders(name: string): Record<string, HeaderObject> {
  return {
    [`X-RateLimit-Limit-${name}`]: {
      description: `Requests allowed per minute by the ${name} limit`,
      schema: { type: 'integer', minimum: 0 },
    },
    [`X-RateLimit-Remaining-${name}`]: {
      description: `Requests left in the current ${name} window`,
      schema: { type: 'integer', minimum: 0 },
    },
    [`X-RateLimit-Reset-${name}`]: {
      description: `Seconds until the current ${name} window ends`,
      schema: { type: 'integer', minimum: 0 },
    },
    [`Retry-After-${name}`]: {
      description: `On 429: seconds until the ${name} limit admits requests again`,
      schema: { type: 'integer', minimum: 0 },
    },
  };
}

function headerRef(name: string): ReferenceObject {
  return { $ref: `#/components/headers/${name}` };
}

function schemaRefOf(response: ResponseObject): string | undefined {
  const schema = response.content?.['application/json']?.schema as ReferenceObject | undefined;
  return schema?.$ref;
}

/** Statuses any route can answer: a bug (500) and a database that does not answer (503). */
const EVERY_ROUTE = [500, 503];
/** Bodies over the JSON limit are refused before a handler runs. */
const JSON_BODY = [413];
/** Bodies that carry a VM carry its version as ETag; a schedule's carry the schedule's. */
const CARRIES_VERSION = new Set([
  '#/components/schemas/VmDto',
  '#/components/schemas/VmAcceptedDto',
  '#/components/schemas/ScheduleDto',
]);

/**
 * Completes what the decorators cannot say per route: the response headers every answer carries
 * (X-Request-Id, the rate-limit headers of the limits the route counts against), Location and ETag
 * on accepted work, Retry-After on 429, and the statuses any route or any JSON body can get.
 */
export function completeResponses(document: OpenAPIObject): void {
  document.components ??= {};
  const responses = (document.components.responses ??= {});
  const components = (document.components.headers = { ...document.components.headers, ...HEADERS });
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const operation = item[method] as (OperationObject & { [RATE_LIMITS_EXTENSION]?: string[] }) | undefined;
      if (!operation) continue;
      const statuses = [
        ...EVERY_ROUTE,
        ...(operation.requestBody &&
        'content' in operation.requestBody &&
        operation.requestBody.content['application/json']
          ? JSON_BODY
          : []),
      ];
      for (const status of statuses) operation.responses[status] ??= problemResponse(status);
      const rateLimited = path.startsWith('/api/') && '429' in operation.responses;
      const limits = operation[RATE_LIMITS_EXTENSION] ?? DEFAULT_RATE_LIMITS;
      for (const [status, response] of Object.entries(operation.responses) as [string, ResponseObject][]) {
        const headers: Record<string, HeaderObject | ReferenceObject> = { 'X-Request-Id': headerRef('X-Request-Id') };
        if (status === '202') headers.Location = headerRef('Location');
        if (CARRIES_VERSION.has(schemaRefOf(response) ?? '')) headers.ETag = headerRef('ETag');
        if (status === '429') headers['Retry-After'] = headerRef('Retry-After');
        if (status === '401') headers['WWW-Authenticate'] = headerRef('WWW-Authenticate');
        if (rateLimited) {
          for (const [name, header] of Object.entries(
            limits.map(rateLimitHeaders).reduce((all, some) => ({ ...all, ...some }), {}),
          )) {
            if (name.startsWith('Retry-After-') && status !== '429') continue;
            components[name] = header;
            headers[name] = headerRef(name);
          }
        }
        // A copy: the decorators' response objects may be shared between routes.
        const completed: ResponseObject = { ...response, headers: { ...headers, ...response.headers } };
        operation.responses[status] = completed;
        // The problem responses repeat on every route: each variant is written once, in components.
        const standard = problemResponse(Number(status));
        if (
          Number(status) >= 400 &&
          response.description === standard.description &&
          JSON.stringify(response.content) === JSON.stringify(standard.content)
        ) {
          const name = `Problem${status}${rateLimited ? `-${limits.join('-')}` : ''}`;
          responses[name] = completed;
          operation.responses[status] = { $ref: `#/components/responses/${name}` };
        }
      }
    }
  }
}
