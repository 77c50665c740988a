import { request as httpRequest } from 'node:http';

/** POSTs JSON to `port` from a chosen loopback source address, so one test can act as several client IPs. */
export function postFrom(
  port: number,
  localAddress: string,
  path: string,
  body: object,
): Promise<{ status: number; headers: Record<string, unknown>; body: { code?: string } }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        localAddress,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text || '{}') }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
