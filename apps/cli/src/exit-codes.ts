import { LimenProblemError, OperationTimeoutError, type Problem } from '@limen/sdk';

/** The exit codes scripts can rely on (also printed by `limen --help` and in docs/api-guide.md). */
export const EXIT = {
  OK: 0,
  GENERIC: 1,
  USAGE: 2,
  AUTH: 3,
  NOT_FOUND: 4,
  CONFLICT: 5,
  OPERATION_FAILED: 6,
  UNAVAILABLE: 7,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODE_HELP = `Exit codes:
  0  success
  1  any other error (an api bug: 500, an unexpected answer)
  2  usage: bad arguments or options, or the api refused the input (400)
  3  authentication: not logged in, session expired, bad credentials or second factor (401), forbidden (403)
  4  not found (404)
  5  conflict or state: the resource is busy or in the wrong state, a name is taken, a quota or limit is reached (409, 412, 413, 422, 428, 507, 403 QUOTA_EXCEEDED)
  6  the operation the command started or waited for failed or was cancelled
  7  unavailable: the api cannot be reached, is overloaded or rate limits (429, 502, 503, 504), or a wait timed out`;

/** A problem of the command line itself (no api answer): printed like the api's problems. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: ExitCode,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function exitCodeForProblem(status: number, code: string): ExitCode {
  if (code === 'QUOTA_EXCEEDED') return EXIT.CONFLICT;
  if (status === 400 || status === 415) return EXIT.USAGE;
  if (status === 401 || status === 403) return EXIT.AUTH;
  if (status === 404) return EXIT.NOT_FOUND;
  if ([409, 412, 413, 422, 428, 507].includes(status)) return EXIT.CONFLICT;
  if ([408, 429, 502, 503, 504].includes(status)) return EXIT.UNAVAILABLE;
  return EXIT.GENERIC;
}

/** Any error as the problem object `--output json` prints, with the exit code it ends the process with. */
export function describeError(error: unknown): { problem: Record<string, unknown>; exitCode: ExitCode } {
  if (error instanceof LimenProblemError) {
    const exitCode = exitCodeForProblem(error.status, error.code);
    return { problem: { ...(error.problem as Problem), exitCode }, exitCode };
  }
  if (error instanceof CliError) {
    return { problem: cliProblem(error.code, error.message, error.exitCode, error.extra), exitCode: error.exitCode };
  }
  if (error instanceof OperationTimeoutError) {
    return {
      problem: cliProblem('WAIT_TIMEOUT', error.message, EXIT.UNAVAILABLE, { operation: error.operation }),
      exitCode: EXIT.UNAVAILABLE,
    };
  }
  if (error instanceof TypeError && /fetch failed/i.test(error.message)) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const detail = `cannot reach the api: ${cause?.code ?? cause?.message ?? error.message}`;
    return { problem: cliProblem('API_UNREACHABLE', detail, EXIT.UNAVAILABLE), exitCode: EXIT.UNAVAILABLE };
  }
  const detail = error instanceof Error ? error.message : String(error);
  return { problem: cliProblem('CLI_ERROR', detail, EXIT.GENERIC), exitCode: EXIT.GENERIC };
}

function cliProblem(code: string, detail: string, exitCode: ExitCode, extra: Record<string, unknown> = {}) {
  return {
    type: `https://limen.dev/problems/cli/${code.toLowerCase().replace(/_/g, '-')}`,
    title: code
      .toLowerCase()
      .replace(/_/g, ' ')
      .replace(/^./, (c) => c.toUpperCase()),
    status: null,
    detail,
    code,
    exitCode,
    ...extra,
  };
}
