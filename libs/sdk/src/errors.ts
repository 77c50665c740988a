import type { components } from './schema';

export type Problem = components['schemas']['ProblemDto'];
export type ErrorCode = components['schemas']['ErrorCode'];

/**
 * A problem+json answer of the api as an Error: its stable `code` (typed from the spec's
 * catalogue), HTTP `status`, `detail` and the whole body (extension members included).
 */
export class LimenProblemError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string;
  readonly requestId?: string;

  constructor(readonly problem: Problem & Record<string, unknown>) {
    super(`${problem.status} ${problem.code}: ${problem.detail}`);
    this.name = 'LimenProblemError';
    this.code = problem.code;
    this.status = problem.status;
    this.detail = problem.detail;
    this.requestId = problem.requestId;
  }
}

/** What an openapi-fetch call resolves to. */
interface FetchResult<T, E> {
  data?: T;
  error?: E;
  response: Response;
}

function isProblem(value: unknown): value is Problem {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Problem).code === 'string' &&
    typeof (value as Problem).status === 'number'
  );
}

/** The problem an error answer carries; one is made up when the body is not a problem (a proxy's 502 page). */
export function toProblemError(error: unknown, response: Response): LimenProblemError {
  if (isProblem(error)) return new LimenProblemError(error as Problem & Record<string, unknown>);
  const detail = typeof error === 'string' && error ? error.slice(0, 500) : response.statusText || 'no problem body';
  return new LimenProblemError({
    type: 'about:blank',
    title: response.statusText || 'Error',
    status: response.status,
    detail,
    code: response.status >= 500 ? 'SERVICE_UNAVAILABLE' : 'MALFORMED_REQUEST',
    requestId: response.headers.get('X-Request-Id') ?? '',
  });
}

/**
 * Unwraps an openapi-fetch result: its data, or a thrown LimenProblemError. Given the call's
 * promise it answers a promise; given an awaited result it answers (or throws) at once.
 *
 *   const vm = await unwrap(client.GET('/api/v1/vms/{id}', { params: { path: { id } } }));
 *   const vm = unwrap(await client.GET('/api/v1/vms/{id}', { params: { path: { id } } }));
 */
export function unwrap<T, E>(result: FetchResult<T, E>): T;
export function unwrap<T, E>(pending: Promise<FetchResult<T, E>>): Promise<T>;
export function unwrap<T, E>(value: Promise<FetchResult<T, E>> | FetchResult<T, E>): T | Promise<T> {
  return 'then' in value ? value.then(settled) : settled(value);
}

function settled<T, E>({ data, error, response }: FetchResult<T, E>): T {
  if (error !== undefined || !response.ok) throw toProblemError(error, response);
  return data as T;
}
