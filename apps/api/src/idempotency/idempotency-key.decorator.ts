import { createParamDecorator, ExecutionContext, HttpStatus } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { Request } from 'express';
import { AppException, ErrorCode } from '../common/problem';

export interface IdempotentRequest {
  key: string;
  /** SHA-256 of method, path and body: "the same request". */
  fingerprint: string;
}

const KEY = /^[A-Za-z0-9_.:-]{1,255}$/;

/** Stable JSON: key order does not make two equal bodies different. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The request's Idempotency-Key header with a fingerprint of the request, or undefined without one. */
export const Idempotency = createParamDecorator(
  (_data: unknown, context: ExecutionContext): IdempotentRequest | undefined => {
    const req = context.switchToHttp().getRequest<Request>();
    const key = req.headers['idempotency-key'];
    if (key === undefined) return undefined;
    if (typeof key !== 'string' || !KEY.test(key)) {
      throw new AppException(
        HttpStatus.BAD_REQUEST,
        ErrorCode.VALIDATION_FAILED,
        'Idempotency-Key must be 1-255 characters of A-Z a-z 0-9 _ . : -',
      );
    }
    const fingerprint = createHash('sha256')
      .update(`${req.method} ${req.originalUrl.split('?')[0]}\n${canonical(req.body ?? null)}`)
      .digest('hex');
    return { key, fingerprint };
  },
);
