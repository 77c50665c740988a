/** One Server-Sent Event as the wire carries it (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
export interface RawSseEvent {
  event: string;
  data: string;
  /** The last event id seen so far on the stream (ids persist across events, as in EventSource). */
  id?: string;
  /** Whether this event itself carried an `id:` field. */
  hasId: boolean;
}

/**
 * An incremental parser of the text/event-stream format: feed it decoded chunks cut anywhere
 * (inside a line, between \r and \n) and it returns the events each chunk completes.
 */
export class SseParser {
  lastEventId: string | undefined;
  /** The reconnection delay the server asked for with `retry:`, if any. */
  retryMs: number | undefined;
  private buffer = '';
  private pendingCr = false;
  private type = '';
  private data: string[] = [];
  private sawId = false;
  private idBuffer: string | undefined;

  constructor(lastEventId?: string) {
    this.lastEventId = this.idBuffer = lastEventId;
  }

  /** Forgets a half-received event (its id included): call it when a new connection starts. */
  reset(): void {
    this.buffer = '';
    this.pendingCr = false;
    this.type = '';
    this.data = [];
    this.sawId = false;
    this.idBuffer = this.lastEventId;
  }

  feed(chunk: string): RawSseEvent[] {
    const out: RawSseEvent[] = [];
    let text = chunk;
    // A \r at the end of the previous chunk already ended its line; a \n right after it belongs to it.
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      if (match[0] === '\r' && match.index === this.buffer.length - 1) this.pendingCr = true;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event) out.push(event);
    }
    return out;
  }

  private line(line: string): RawSseEvent | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) {
      this.idBuffer = value;
      this.sawId = true;
    } else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
    return undefined;
  }

  private dispatch(): RawSseEvent | undefined {
    // An id counts once its event is complete: a connection cut mid-event resumes before it.
    this.lastEventId = this.idBuffer;
    const event: RawSseEvent = {
      event: this.type || 'message',
      data: this.data.join('\n'),
      id: this.lastEventId,
      hasId: this.sawId,
    };
    const any = this.data.length > 0;
    this.type = '';
    this.data = [];
    this.sawId = false;
    return any ? event : undefined;
  }
}
