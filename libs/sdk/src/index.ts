import createClient, { type Client, type Middleware } from 'openapi-fetch';
import { unwrap } from './errors';
import type { components, paths } from './schema';

export type { components, paths };
export type LimenClient = Client<paths>;
export { LimenProblemError, toProblemError, unwrap, type ErrorCode, type Problem } from './errors';
export { wait, OperationTimeoutError, type Operation, type WaitOptions } from './operations';
export { streamEvents, type EventStreamOptions, type LimenEvent, type LimenEventType } from './events';
export { SseParser, type RawSseEvent } from './sse';

export interface LimenClientOptions {
  /** A fetch to send requests with (a wrapper that refreshes tokens, a test's); default: global fetch. */
  fetch?: (request: Request) => Promise<Response>;
}

/**
 * A typed LIMEN client: openapi-fetch over the types openapi-typescript generates from
 * docs/openapi.json (schema.d.ts, regenerated and compared by scripts/check-sdk.sh).
 * `accessToken` is asked for on every request, so a refreshed token is picked up at once.
 */
export function createLimenClient(
  baseUrl: string,
  accessToken?: () => string | undefined,
  options: LimenClientOptions = {},
): LimenClient {
  const client = createClient<paths>({ baseUrl, ...(options.fetch ? { fetch: options.fetch } : {}) });
  if (accessToken) {
    const bearer: Middleware = {
      onRequest({ request }) {
        const token = accessToken();
        if (token) request.headers.set('Authorization', `Bearer ${token}`);
        return request;
      },
    };
    client.use(bearer);
  }
  return client;
}

/** Long-polls an operation until it has ended (succeeded, failed or cancelled); see `wait` for timeouts and progress. */
export async function waitForOperation(
  client: LimenClient,
  id: string,
  timeoutSeconds = 60,
): Promise<components['schemas']['OperationDto']> {
  for (;;) {
    const data = await unwrap(
      client.GET('/api/v1/operations/{id}/wait', { params: { path: { id }, query: { timeout: timeoutSeconds } } }),
    );
    if (data.status !== 'pending' && data.status !== 'running') return data;
  }
}
