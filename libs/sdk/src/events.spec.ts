import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { LimenProblemError } from './errors';
import { streamEvents, type LimenEvent } from './events';
import { SseParser } from './sse';

describe('SseParser', () => {
  it('parses events cut at any point, CRLF/CR/LF, comments, multi-line data and persistent ids', () => {
    const wire =
      ': comment\r\nevent: vm.state\r\nid: 7\r\ndata: {"a":\r\ndata: 1}\r\n\r\n' +
      'event: heartbeat\rdata: {"at":"x"}\r\r' +
      'data:plain\n\n' +
      'id: 8\nevent: empty\n\n' +
      'retry: 2500\nevent: vm.deleted\ndata: {}\n\n';
    const expected = [
      { event: 'vm.state', data: '{"a":\n1}', id: '7', hasId: true },
      { event: 'heartbeat', data: '{"at":"x"}', id: '7', hasId: false },
      { event: 'message', data: 'plain', id: '7', hasId: false },
      { event: 'vm.deleted', data: '{}', id: '8', hasId: false },
    ];
    for (let size = 1; size <= wire.length; size++) {
      const parser = new SseParser();
      const events = [];
      for (let at = 0; at < wire.length; at += size) events.push(...parser.feed(wire.slice(at, at + size)));
      expect({ size, events }).toEqual({ size, events: expected });
      expect(parser.lastEventId).toBe('8');
      expect(parser.retryMs).toBe(2500);
    }
  });
});

describe('streamEvents against a local server', () => {
  let server: Server;
  let base: string;
  let handle: (req: IncomingMessage, res: ServerResponse) => void;
  const seen: Array<{ auth?: string; lastEventId?: string }> = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ auth: req.headers.authorization, lastEventId: req.headers['last-event-id'] as string | undefined });
      handle(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => (seen.length = 0));

  const event = (id: number) =>
    `event: vm.deleted\nid: ${id}\ndata: ${JSON.stringify({ type: 'vm.deleted', at: 'now', vmId: `vm-${id}` })}\n\n`;

  it('reconnects after a drop with Last-Event-ID and the current token, and yields typed events', async () => {
    let connection = 0;
    handle = (req, res) => {
      connection++;
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('retry: 10\n');
      res.write(`event: heartbeat\ndata: {"at":"now"}\n\n`);
      const after = Number(req.headers['last-event-id'] ?? 0);
      // The first connection breaks off mid-event: only the complete events count.
      if (connection === 1) res.end(event(after + 1) + event(after + 2) + 'event: vm.deleted\nid: 99\ndata: {');
      else res.write(event(after + 1));
    };
    const tokens = ['first', 'second'];
    const stop = new AbortController();
    const got: LimenEvent[] = [];
    for await (const e of streamEvents({
      baseUrl: base,
      accessToken: () => tokens.shift(),
      lastEventId: '4',
      signal: stop.signal,
    })) {
      got.push(e);
      if (got.length === 5) stop.abort();
    }
    expect(got.map((e) => `${e.event}:${'id' in e ? e.id : '-'}`)).toEqual([
      'heartbeat:-',
      'vm.deleted:5',
      'vm.deleted:6',
      'heartbeat:-',
      'vm.deleted:7',
    ]);
    const deleted = got[1];
    if (deleted.event !== 'vm.deleted') throw new Error('narrowing');
    expect(deleted.data.vmId).toBe('vm-5');
    expect(seen).toEqual([
      { auth: 'Bearer first', lastEventId: '4' },
      { auth: 'Bearer second', lastEventId: '6' },
    ]);
  });

  it('asks for one VM’s events with vmId, on every (re)connect', async () => {
    const urls: string[] = [];
    handle = (req, res) => {
      urls.push(req.url!);
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      // The first connection ends after one event, so the second is a reconnect.
      const next = event(Number(req.headers['last-event-id'] ?? 0) + 1);
      if (urls.length === 1) res.end(next);
      else res.write(next);
    };
    const stop = new AbortController();
    const vmId = '0b5d3f8e-4c1a-4f7e-9d2b-6a8c0e1f2a3b';
    const got: string[] = [];
    for await (const e of streamEvents({
      baseUrl: `${base}/`,
      accessToken: () => 't',
      vmId,
      retryMs: 5,
      signal: stop.signal,
    })) {
      got.push('id' in e ? e.id : '-');
      if (got.length === 2) stop.abort();
    }
    expect(got).toEqual(['1', '2']);
    expect(urls).toEqual([`/api/v1/events?vmId=${vmId}`, `/api/v1/events?vmId=${vmId}`]);
  });

  it('retries a 503 and throws the problem of a 401', async () => {
    let connection = 0;
    handle = (_req, res) => {
      connection++;
      const status = connection === 1 ? 503 : 401;
      res.writeHead(status, { 'Content-Type': 'application/problem+json', 'Retry-After': '0' });
      res.end(
        JSON.stringify({
          type: 'about:blank',
          title: 'x',
          status,
          detail: 'no',
          code: status === 401 ? 'UNAUTHENTICATED' : 'SERVICE_UNAVAILABLE',
          requestId: 'r1',
        }),
      );
    };
    const stream = streamEvents({ baseUrl: base, accessToken: () => 't', retryMs: 5 });
    const error = await stream.next().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LimenProblemError);
    expect(error).toMatchObject({ status: 401, code: 'UNAUTHENTICATED', detail: 'no', requestId: 'r1' });
    expect(seen).toHaveLength(2);
  });

  it('on a 401 asks onUnauthorized for a new token and resumes from the last id; a second 401 in a row throws', async () => {
    let connection = 0;
    handle = (req, res) => {
      connection++;
      if (req.headers.authorization !== 'Bearer fresh' || connection >= 4) {
        res.writeHead(401, { 'Content-Type': 'application/problem+json' });
        res.end(
          JSON.stringify({
            type: 'about:blank',
            title: 'x',
            status: 401,
            detail: 'expired',
            code: 'UNAUTHENTICATED',
            requestId: 'r',
          }),
        );
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      // The second connection (the first with the fresh token) sends two events and ends.
      res.end(
        event(Number(req.headers['last-event-id'] ?? 0) + 1) + event(Number(req.headers['last-event-id'] ?? 0) + 2),
      );
    };
    let token = 'stale';
    const calls: string[] = [];
    const got: string[] = [];
    const stream = streamEvents({
      baseUrl: base,
      accessToken: () => token,
      lastEventId: '10',
      retryMs: 5,
      onConnect: (id) => calls.push(`connect:${id}`),
      onDisconnect: () => calls.push('disconnect'),
      onUnauthorized: () => {
        calls.push('unauthorized');
        // From connection 4 on every token is refused: one refresh is asked for, then the 401 is thrown.
        token = 'fresh';
        return true;
      },
    });
    const error = await (async () => {
      for await (const e of stream) got.push('id' in e ? e.id : '-');
    })().catch((e: unknown) => e);
    expect(got).toEqual(['11', '12', '13', '14']);
    expect(calls).toEqual(['unauthorized', 'connect:10', 'disconnect', 'connect:12', 'disconnect', 'unauthorized']);
    expect(error).toBeInstanceOf(LimenProblemError);
    expect(error).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
  });
});
