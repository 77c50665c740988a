import { toProblemError } from './errors';
import type { paths } from './schema';
import { SseParser } from './sse';

/** One event of GET /api/v1/events, typed from the spec: `event` names it and narrows `data`. */
export type LimenEvent = paths['/api/v1/events']['get']['responses'][200]['content']['text/event-stream'];
export type LimenEventType = LimenEvent['event'];

export interface EventStreamOptions {
  /** The api's origin, e.g. http://127.0.0.1:18443. */
  baseUrl: string;
  /** Asked before every (re)connect, so a refreshed token is used. */
  accessToken: () => string | undefined | Promise<string | undefined>;
  /** Resume after this id (`'0'` replays everything retained). */
  lastEventId?: string;
  /** Only the events about this VM (the api answers 404, thrown, for a VM that is not yours). */
  vmId?: string;
  signal?: AbortSignal;
  /** Delay before reconnecting after a drop, unless the server sent `retry:` (default 1000 ms). */
  retryMs?: number;
  /** Called on every connection that opened, with the Last-Event-ID it sent. */
  onConnect?: (lastEventId: string | undefined) => void;
  /** Called when an open connection has ended (before the reconnect), e.g. to show the stream is not live. */
  onDisconnect?: () => void;
  /**
   * Called on a 401 (the access token ran out): resolve true once a new token is there to
   * reconnect at once from the last id seen; false, or a 401 again right after, throws the 401.
   */
  onUnauthorized?: () => boolean | Promise<boolean>;
  fetch?: typeof fetch;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * The api's event stream over fetch (EventSource cannot send a bearer token): yields typed
 * events until `signal` aborts. A dropped connection, a 5xx or a 429 reconnects with
 * Last-Event-ID, and the api replays what was missed; a 401 asks `onUnauthorized` for a new
 * token; any other error status throws its LimenProblemError.
 */
export async function* streamEvents(options: EventStreamOptions): AsyncGenerator<LimenEvent, void, undefined> {
  const doFetch = options.fetch ?? fetch;
  const parser = new SseParser(options.lastEventId);
  const query = options.vmId === undefined ? '' : `?${new URLSearchParams({ vmId: options.vmId })}`;
  const url = `${options.baseUrl.replace(/\/$/, '')}/api/v1/events${query}`;
  let refreshed = false;
  while (!options.signal?.aborted) {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    const token = await options.accessToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (parser.lastEventId !== undefined) headers['Last-Event-ID'] = parser.lastEventId;
    let delay = parser.retryMs ?? options.retryMs ?? 1000;
    let response: Response | undefined;
    try {
      response = await doFetch(url, { headers, signal: options.signal });
    } catch (error) {
      if (options.signal?.aborted) return;
      void error; // the network is down or the api restarting: try again after the delay
    }
    if (response?.status !== 401) refreshed = false;
    if (response && !response.ok) {
      const body: unknown = await response.json().catch(() => undefined);
      const problem = toProblemError(body, response);
      if (response.status === 401 && !refreshed && (await options.onUnauthorized?.())) {
        refreshed = true;
        continue;
      }
      if (response.status !== 429 && response.status < 500) throw problem;
      delay = Math.max(delay, retryAfterMs(response) ?? 0);
    } else if (response?.body) {
      parser.reset();
      options.onConnect?.(headers['Last-Event-ID']);
      yield* read(response.body, parser);
      options.onDisconnect?.();
    }
    if (options.signal?.aborted) return;
    await sleep(delay, options.signal);
  }
}

function retryAfterMs(response: Response): number | undefined {
  const seconds = Number(response.headers.get('Retry-After'));
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
}

async function* read(body: ReadableStream<Uint8Array>, parser: SseParser) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const raw of parser.feed(decoder.decode(value, { stream: true }))) {
        let data: unknown;
        try {
          data = JSON.parse(raw.data);
        } catch {
          data = raw.data;
        }
        yield { event: raw.event, ...(raw.hasId ? { id: raw.id } : {}), data } as LimenEvent;
      }
    }
  } catch {
    return; // a broken connection (or an abort): the caller reconnects or stops
  } finally {
    // Also when the consumer stops early: the connection is closed, not left open.
    await reader.cancel().catch(() => undefined);
  }
}
