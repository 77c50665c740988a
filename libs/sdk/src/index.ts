import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';

export type { components, paths };
export type LimenClient = Client<paths>;
export type Operation = components['schemas']['OperationDto'];
export type ErrorCode = components['schemas']['ErrorCode'];

/**
 * A typed LIMEN client: openapi-fetch over the types openapi-typescript generates from
 * docs/openapi.json (schema.d.ts, regenerated and compared by scripts/check-sdk.sh).
 * `accessToken` is asked for on every request, so a refreshed token is picked up at once.
 */
export function createLimenClient(baseUrl: string, accessToken?: () => string | undefined): LimenClient {
  const client = createClient<paths>({ baseUrl });
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

/** Long-polls an operation until it has ended (succeeded, failed or cancelled). */
export async function waitForOperation(client: LimenClient, id: string, timeoutSeconds = 60): Promise<Operation> {
  for (;;) {
    const { data, error } = await client.GET('/api/v1/operations/{id}/wait', {
      params: { path: { id }, query: { timeout: timeoutSeconds } },
    });
    if (error) throw new Error(`waiting for operation ${id}: ${error.code}: ${error.detail}`);
    if (data.status !== 'pending' && data.status !== 'running') return data;
  }
}
