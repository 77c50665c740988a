import { HttpStatus } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppException, ErrorCode } from './problem';

/** Far deeper than any request body LIMEN documents (they nest two or three levels). */
export const MAX_JSON_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPENERS = new Set([0x5b, 0x7b]); // [ {
const CLOSERS = new Set([0x5d, 0x7d]); // ] }

/**
 * How deeply a JSON text nests, from its bytes alone: no parse and no recursion. Brackets inside
 * strings do not count. UTF-8 never puts these ASCII bytes inside a multi-byte character.
 */
export function jsonDepth(bytes: Uint8Array): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) inString = true;
    else if (OPENERS.has(byte)) deepest = Math.max(deepest, ++depth);
    else if (CLOSERS.has(byte)) depth--;
  }
  return deepest;
}

/**
 * body-parser `verify` hook: refuses a JSON body nested deeper than MAX_JSON_DEPTH before it is
 * parsed. Every consumer of a parsed body (class-transformer, the Idempotency-Key fingerprint, ...)
 * walks it by recursion, and 3,000 nested brackets (6 KB, far under the size limit) overflowed the
 * stack and answered 500. Found by test/reliability/property-http-surface.spec.ts.
 */
export function refuseDeeplyNestedJson(_req: IncomingMessage, _res: ServerResponse, body: Buffer): void {
  if (jsonDepth(body) > MAX_JSON_DEPTH) {
    throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, `The request body nests more than ${MAX_JSON_DEPTH} levels deep`);
  }
}
