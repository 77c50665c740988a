import type { NextFunction, Request, Response } from 'express';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';

const LIFT = Symbol('liftRequestDeadline');

/** How long a client that was answered 408 may take to read the answer before its connection is destroyed. */
const LINGER_MS = 5_000;

type WithDeadline = { [LIFT]?: () => void };

/**
 * A deadline for each request to arrive in full (headers and body), in place of node:http's
 * `requestTimeout`. Node's applies to every request on the server alike and cannot be lifted for
 * one route, so it cut image uploads (up to MAX_IMAGE_UPLOAD_MIB) at 300 s; this one can be, by
 * code that bounds the body its own way (`liftRequestDeadline`). Headers keep Node's
 * `headersTimeout`. A request still arriving at the deadline is answered 408 like Node's, through
 * `answer` (the server's clientError answer), and its connection is closed.
 */
export function installRequestDeadline(
  server: Server,
  timeoutMs: number,
  answer: (error: Error & { code: string }, socket: Duplex) => void,
) {
  server.requestTimeout = 0;
  return (req: Request, res: Response, next: NextFunction): void => {
    const timer = setTimeout(() => {
      if (req.complete) return;
      const socket = req.socket;
      answer(Object.assign(new Error('request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket);
      // A client that stopped sending may not read or close either: do not keep its socket.
      socket.setTimeout(LINGER_MS, () => socket.destroy());
    }, timeoutMs);
    const lift = () => clearTimeout(timer);
    res.once('close', lift);
    (req as WithDeadline)[LIFT] = lift;
    next();
  };
}

/**
 * Lifts the request deadline from a request whose body its reader bounds another way (an image
 * upload's minimum progress). A no-op for a stream that is not a request.
 */
export function liftRequestDeadline(body: object): void {
  (body as WithDeadline)[LIFT]?.();
}
