import { HttpStatus } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AppException, ErrorCode } from './problem';

/** Far deeper than any request body LIMEN documents (they nest two or three levels). */
export const MAX_JSON_DEPTH = 32;

function isJsonContainer(value: unknown): value is Record<string, unknown> | unknown[] {
  if (Array.isArray(value)) return true;
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Whether parsed JSON nests deeper than `limit` (`{}` is one level), found without recursion:
 * the value may be thousands of levels deep. Only arrays and plain objects count.
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 1]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop()!;
    if (!isJsonContainer(current)) continue;
    if (depth > limit) return true;
    for (const child of Object.values(current)) pending.push([child, depth + 1]);
  }
  return false;
}

const LONE_SURROGATE = /\p{Cs}/u;

/**
 * The field path (as validation errors name fields: `recipients.0`) of a string or key in parsed
 * JSON that holds a lone UTF-16 surrogate (`"\ud800"` is valid JSON but no Unicode text), or null;
 * found without recursion. Such strings make libraries throw instead of refusing them: validator's
 * isEmail calls encodeURI, which raises URIError (a 500).
 */
export function loneSurrogateField(value: unknown): string | null {
  const pending: Array<[unknown, string]> = [[value, '']];
  while (pending.length > 0) {
    const [current, path] = pending.pop()!;
    if (typeof current === 'string') {
      if (LONE_SURROGATE.test(current)) return path;
    } else if (isJsonContainer(current)) {
      for (const [key, child] of Object.entries(current)) {
        const childPath = path ? `${path}.${key}` : key;
        if (LONE_SURROGATE.test(key)) return childPath;
        pending.push([child, childPath]);
      }
    }
  }
  return null;
}

/**
 * Runs right after the JSON body parser: refuses a body nested deeper than MAX_JSON_DEPTH, or
 * holding text that is not Unicode (a lone surrogate; found by the same property test).
 * Everything that reads a parsed body (class-transformer in the ValidationPipe, the
 * Idempotency-Key fingerprint, ...) walks it by recursion, and 3,000 nested brackets (6 KB, far
 * under the size limit) overflowed the stack and answered 500. Found by
 * test/reliability/property-http-surface.spec.ts.
 */
export function refuseUnsafeJsonBodies(req: Request, _res: Response, next: NextFunction): void {
  if (nestsDeeperThan(req.body, MAX_JSON_DEPTH)) {
    next(
      new AppException(
        HttpStatus.BAD_REQUEST,
        ErrorCode.VALIDATION_FAILED,
        `The request body nests more than ${MAX_JSON_DEPTH} levels deep`,
      ),
    );
    return;
  }
  const field = loneSurrogateField(req.body);
  if (field !== null) {
    const errors = [{ field, messages: [`${field || 'the body'} must be Unicode text (it holds a lone surrogate)`] }];
    next(
      new AppException(
        HttpStatus.BAD_REQUEST,
        ErrorCode.VALIDATION_FAILED,
        `Validation failed for ${field || 'the request'}`,
        { errors },
      ),
    );
    return;
  }
  next();
}
