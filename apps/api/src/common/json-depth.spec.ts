import type { NextFunction, Request, Response } from 'express';
import { loneSurrogateField, MAX_JSON_DEPTH, nestsDeeperThan, refuseUnsafeJsonBodies } from './json-depth';
import { AppException } from './problem';

const nested = (depth: number) => JSON.parse('['.repeat(depth) + ']'.repeat(depth));

function verdict(body: unknown): unknown {
  let passed: unknown = 'not called';
  refuseUnsafeJsonBodies({ body } as Request, {} as Response, ((error?: unknown) => (passed = error)) as NextFunction);
  return passed;
}

describe('nestsDeeperThan', () => {
  it.each([
    [1, 0, false],
    [{}, 0, true],
    [{}, 1, false],
    [[[], { a: [1, { b: null }] }], 3, true],
    [[[], { a: [1, { b: null }] }], 4, false],
    [{ text: '[[[[[[' }, 1, false],
  ])('%j deeper than %i: %s', (value, limit, expected) => {
    expect(nestsDeeperThan(value, limit)).toBe(expected);
  });

  it('counts plain JSON containers only', () => {
    expect(nestsDeeperThan({ at: new Date(), buffer: Buffer.alloc(4) }, 1)).toBe(false);
  });
});

// Found by test/reliability/property-http-surface.spec.ts: 3,000 nested brackets (6 KB) overflowed
// the stack of class-transformer (and of the Idempotency-Key fingerprint), answering 500.
describe('refuseUnsafeJsonBodies', () => {
  it.each([
    ['arrays', nested(3_000)],
    ['objects', JSON.parse('{"a":'.repeat(30_000) + '1' + '}'.repeat(30_000))],
    ['a deep field', { name: nested(5_000) }],
    ['one level too many', nested(MAX_JSON_DEPTH + 1)],
  ])('refuses %s as 400 VALIDATION_FAILED', (_label, body) => {
    const error = verdict(body);
    expect(error).toBeInstanceOf(AppException);
    expect(error).toMatchObject({
      code: 'VALIDATION_FAILED',
      detail: `The request body nests more than ${MAX_JSON_DEPTH} levels deep`,
    });
    expect((error as AppException).getStatus()).toBe(400);
  });

  it('lets ordinary bodies, and no body, through', () => {
    expect(verdict({ name: 'web-1', cloudInit: { sshAuthorizedKeys: ['ssh-ed25519 AAAA a@b'] } })).toBeUndefined();
    expect(verdict(nested(MAX_JSON_DEPTH))).toBeUndefined();
    expect(verdict(undefined)).toBeUndefined();
  });
});

describe('loneSurrogateField', () => {
  it.each([
    [{ recipients: ['ok', '\ud800'] }, 'recipients.1'],
    [{ nested: { ['\udc00key']: 1 } }, 'nested.\udc00key'],
    ['\ud83d', ''],
    [{ emoji: '\ud83d\ude00', text: 'plain', n: 1, none: null }, null],
  ])('%j → %j', (value, expected) => {
    expect(loneSurrogateField(value)).toBe(expected);
  });

  it('makes the body guard refuse a lone surrogate with 400 VALIDATION_FAILED (PATCH /alert-channels/{id} was a 500, found by the HTTP property test)', () => {
    let passed: unknown = 'not called';
    refuseUnsafeJsonBodies(
      { body: { recipients: ['\ud800'] } } as Request,
      {} as Response,
      ((error?: unknown) => (passed = error)) as NextFunction,
    );
    expect(passed).toMatchObject({
      code: 'VALIDATION_FAILED',
      extra: { errors: [{ field: 'recipients.0', messages: [expect.stringContaining('lone surrogate')] }] },
    });
  });
});
