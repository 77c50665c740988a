import { request as httpRequest } from 'node:http';

export interface RawRequest {
  method: string;
  /** Sent as is: already percent-encoded, or deliberately not. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer | string;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** An event stream (or an accepted WebSocket upgrade) is answered as soon as its headers arrive, then closed. */
  streamed: boolean;
  ms: number;
}

/**
 * One HTTP request over node:http with nothing normalised (supertest would re-encode the path and
 * serialise the body): for hostile-input tests. Event streams resolve on their headers; anything
 * that does not answer within `timeoutMs` rejects, since a hanging request is a failure too.
 */
export function sendRaw(baseUrl: string, req: RawRequest, timeoutMs = 75_000): Promise<RawResponse> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const url = new URL(baseUrl);
    const body =
      req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, 'utf8');
    const headers = { ...req.headers, ...(body ? { 'content-length': String(body.length) } : {}) };
    const client = httpRequest(
      { host: url.hostname, port: url.port, method: req.method, path: req.path, headers, agent: false },
      (res) => {
        const streamed = String(res.headers['content-type'] ?? '').startsWith('text/event-stream');
        if (streamed) {
          res.destroy();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: '', streamed, ms: Date.now() - started });
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
            streamed,
            ms: Date.now() - started,
          }),
        );
        res.on('error', reject);
      },
    );
    // A WebSocket handshake that succeeds: report the 101 and hang up.
    client.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({
        status: res.statusCode ?? 101,
        headers: res.headers,
        text: '',
        streamed: true,
        ms: Date.now() - started,
      });
    });
    client.setTimeout(timeoutMs, () =>
      client.destroy(new Error(`no answer to ${req.method} ${req.path.slice(0, 200)} within ${timeoutMs} ms`)),
    );
    client.on('error', reject);
    client.end(body);
  });
}
