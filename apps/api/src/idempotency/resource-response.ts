import { CallHandler, ExecutionContext, Injectable, NestInterceptor, UseInterceptors } from '@nestjs/common';
import type { Response } from 'express';
import { catchError, map, Observable, of, throwError } from 'rxjs';

/** A response as the idempotency record keeps it, to replay it as it was sent. */
export interface StoredResponse {
  statusCode: number;
  body: unknown;
  location?: string;
}

/**
 * The HTTP answer to a service's result. A result carrying an operation is accepted work: 202, with
 * Location naming the operation. Anything else is the resource as it now is: 200.
 */
export function responseOf(result: unknown): StoredResponse {
  const operation = (result as { operation?: { id: string } } | null)?.operation;
  return operation
    ? { statusCode: 202, body: result, location: `/api/v1/operations/${operation.id}` }
    : { statusCode: 200, body: result };
}

/** The ETag of a body that carries a VM (as `vm`, or being one): the VM's version. */
export function versionTagOf(body: unknown): string | undefined {
  const carrier = body as { vm?: { version?: number }; version?: number } | null;
  const version = carrier?.vm?.version ?? carrier?.version;
  return version === undefined ? undefined : `"${version}"`;
}

/**
 * Raised instead of running a request whose Idempotency-Key was seen before with the same request:
 * the first response, which ResourceResponse sends again as it was.
 */
export class IdempotentReplay extends Error {
  constructor(readonly response: StoredResponse) {
    super('Replay of an earlier request with the same Idempotency-Key');
  }
}

function send(res: Response, response: StoredResponse): unknown {
  res.status(response.statusCode);
  if (response.location) res.setHeader('Location', response.location);
  const etag = versionTagOf(response.body);
  if (etag) res.setHeader('ETag', etag);
  return response.body;
}

/** See ResourceResponse. */
@Injectable()
export class ResourceResponseInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const res = context.switchToHttp().getResponse<Response>();
    return next.handle().pipe(
      map((result) => send(res, responseOf(result))),
      catchError((error: unknown) =>
        error instanceof IdempotentReplay ? of(send(res, error.response)) : throwError(() => error),
      ),
    );
  }
}

/**
 * Sends what the route's service returned: accepted work (a result carrying an operation) as 202
 * with Location, anything else as 200; with the VM's version as ETag when the body carries a VM;
 * and an idempotent replay exactly as the first response was sent.
 */
export const ResourceResponse = () => UseInterceptors(ResourceResponseInterceptor);
