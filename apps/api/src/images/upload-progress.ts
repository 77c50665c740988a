import { PassThrough, Readable } from 'node:stream';

/** The upload sent less than its minimum over a whole window. */
export class UploadTooSlowError extends Error {
  constructor(
    readonly minBytesPerSecond: number,
    readonly windowSeconds: number,
  ) {
    super(`fewer than ${minBytesPerSecond} bytes/s over ${windowSeconds} s`);
  }
}

/**
 * The body of an upload, failed with UploadTooSlowError as soon as fewer than
 * `minBytesPerSecond × windowSeconds` bytes arrive within any window: a stalled or trickling
 * client cannot hold a connection and a temporary file for ever, whatever the upload's size.
 *
 * The request itself is then only unpiped and paused, not destroyed, so its connection can still
 * carry the 408 that explains why. A request that errors or closes early fails the body too.
 */
export function withMinimumProgress(
  request: Readable & { complete?: boolean },
  minBytesPerSecond: number,
  windowSeconds: number,
): Readable {
  const body = new PassThrough();
  let received = 0;
  const count = (chunk: Buffer) => (received += chunk.length);
  const check = setInterval(() => {
    if (received < minBytesPerSecond * windowSeconds) {
      request.unpipe(body);
      request.pause();
      body.destroy(new UploadTooSlowError(minBytesPerSecond, windowSeconds));
    }
    received = 0;
  }, windowSeconds * 1000);
  const fail = (error: Error) => body.destroy(error);
  const closedEarly = () => {
    if (!request.complete) body.destroy(new Error('the client closed the connection before the upload ended'));
  };
  request.on('data', count);
  request.once('error', fail);
  request.once('close', closedEarly);
  body.once('close', () => {
    clearInterval(check);
    request.off('data', count);
    request.off('error', fail);
    request.off('close', closedEarly);
  });
  request.pipe(body);
  return body;
}
