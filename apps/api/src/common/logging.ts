import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Params } from 'nestjs-pino';
import { AppConfig } from '../config/app-config';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

type RequestWithId = IncomingMessage & { id?: string };

/** A caller's X-Request-Id is kept when it is sane, generated otherwise, and echoed back. */
export function requestId(req: RequestWithId, res: ServerResponse): string {
  if (req.id) return req.id;
  const given = req.headers['x-request-id'];
  req.id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', req.id);
  return req.id;
}

/** Runs first, so even a body the parser rejects gets a request id in its problem and log line. */
export function requestIdMiddleware(req: RequestWithId, res: ServerResponse, next: () => void): void {
  requestId(req, res);
  next();
}

/**
 * Structured JSON logs (pino). Every line logged while serving a request
 * carries its `req.id`; credentials and tokens are redacted.
 */
export function loggerParams(config: AppConfig): Params {
  return {
    pinoHttp: {
      level: config.logLevel,
      genReqId: (req, res) => requestId(req as RequestWithId, res),
      customAttributeKeys: { reqId: 'requestId' },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["x-agent-token"]',
          'res.headers["set-cookie"]',
          '*.password',
          '*.refreshToken',
          '*.accessToken',
        ],
        censor: '[redacted]',
      },
      serializers: {
        req: (req: { id: string; method: string; url: string; remoteAddress?: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url?.split('?')[0],
          remoteAddress: req.remoteAddress,
        }),
      },
      autoLogging: { ignore: (req) => (req.url ?? '').startsWith('/health/') },
    },
  };
}
