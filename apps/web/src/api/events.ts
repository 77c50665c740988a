import { EventSourceParserStream } from 'eventsource-parser/stream';
import { accessToken, refresh } from '../auth/session';

export interface LimenEvent {
  id?: string;
  type: string;
  data: Record<string, unknown> & { vmId?: string };
}

/**
 * Follows GET /api/v1/events with fetch (EventSource cannot send the bearer token): parses the
 * stream, and after a drop or an expired token reconnects with `Last-Event-ID`, so the api replays
 * what was missed. Ends when `signal` aborts or the session is gone.
 */
export async function followEvents(
  onEvent: (event: LimenEvent) => void,
  signal: AbortSignal,
  onConnection: (open: boolean) => void = () => undefined,
): Promise<void> {
  let lastEventId: string | undefined;
  let delay = 1000;
  while (!signal.aborted) {
    const token = accessToken();
    if (!token) return;
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' };
    if (lastEventId) headers['Last-Event-ID'] = lastEventId;
    try {
      const response = await fetch('/api/v1/events', { headers, signal });
      if (response.status === 401) {
        if (!(await refresh())) return;
        continue;
      }
      if (response.ok && response.body) {
        delay = 1000;
        onConnection(true);
        const events = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
        for await (const event of events) {
          if (event.id) lastEventId = event.id;
          if (event.event === 'heartbeat' || !event.data) continue;
          onEvent({ id: event.id, type: event.event ?? 'message', data: JSON.parse(event.data) });
        }
      } else {
        // 429 TOO_MANY_STREAMS and 5xx: back off, honouring Retry-After when given.
        delay = Math.max(delay, Number(response.headers.get('Retry-After') ?? 0) * 1000);
      }
    } catch {
      if (signal.aborted) return;
    }
    onConnection(false);
    await new Promise((resume) => setTimeout(resume, delay));
    delay = Math.min(delay * 2, 15_000);
  }
}
