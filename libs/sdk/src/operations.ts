import type { Client } from 'openapi-fetch';
import { unwrap } from './errors';
import type { components, paths } from './schema';

export type Operation = components['schemas']['OperationDto'];

export interface WaitOptions {
  /** Give up after this many milliseconds (default: wait as long as it takes). */
  timeoutMs?: number;
  /** Called with the operation as first read and each time its status changes. */
  onProgress?: (operation: Operation) => void;
  signal?: AbortSignal;
}

/** The operation did not end within the wait's timeout; `operation` is its last known state. */
export class OperationTimeoutError extends Error {
  constructor(readonly operation: Operation) {
    super(`operation ${operation.id} (${operation.kind}) still ${operation.status} when the wait timed out`);
    this.name = 'OperationTimeoutError';
  }
}

const ended = (operation: Operation) => operation.status !== 'pending' && operation.status !== 'running';

/**
 * Long-polls an operation (GET /operations/{id}/wait, at most 60 s a round) until it ends:
 * succeeded, failed or cancelled. Throws LimenProblemError for an error answer and
 * OperationTimeoutError after `timeoutMs`.
 */
export async function wait(client: Client<paths>, id: string, options: WaitOptions = {}): Promise<Operation> {
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  let last: Operation | undefined;
  for (;;) {
    const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    const operation = await unwrap(
      client.GET('/api/v1/operations/{id}/wait', {
        params: { path: { id }, query: { timeout: Math.min(60, left) } },
        signal: options.signal,
      }),
    );
    if (!last || last.status !== operation.status) options.onProgress?.(operation);
    last = operation;
    if (ended(operation)) return operation;
    if (Date.now() >= deadline) throw new OperationTimeoutError(operation);
  }
}
