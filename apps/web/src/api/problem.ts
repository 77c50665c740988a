import type { components } from '@limen/sdk';

export type Problem = components['schemas']['ProblemDto'] & Record<string, unknown>;

/** An RFC 9457 answer from the api, thrown by `unwrap` so screens can show `detail` and branch on `code`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Partial<Problem>,
  ) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
  }

  get code(): string | undefined {
    return problem(this)?.code;
  }
}

export function problem(error: unknown): Partial<Problem> | undefined {
  return error instanceof ApiError ? error.problem : undefined;
}

/** openapi-fetch's `{data, error, response}` as a value or an ApiError. */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) {
    throw new ApiError(result.response.status, (result.error ?? {}) as Partial<Problem>);
  }
  return result.data as T;
}
