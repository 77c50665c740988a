import { LimenProblemError, type Problem } from '@limen/sdk';

/**
 * The SDK's problem helpers under the names the screens import: `unwrap` throws an ApiError
 * (the SDK's LimenProblemError: `status`, `code`, `detail`, the whole `problem`).
 */
export { LimenProblemError as ApiError, unwrap, type Problem } from '@limen/sdk';

/** The problem an error carries (undefined when it is not an api answer), so screens can show `detail` and `code`. */
export function problem(error: unknown): Partial<Problem & Record<string, unknown>> | undefined {
  return error instanceof LimenProblemError ? error.problem : undefined;
}
