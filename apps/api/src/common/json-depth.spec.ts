import type { IncomingMessage, ServerResponse } from 'node:http';
import { jsonDepth, MAX_JSON_DEPTH, refuseDeeplyNestedJson } from './json-depth';
import { AppException } from './problem';

const bytes = (text: string) => Buffer.from(text, 'utf8');
const verify = (text: string) => refuseDeeplyNestedJson({} as IncomingMessage, {} as ServerResponse, bytes(text));

describe('jsonDepth', () => {
  it.each([
    ['1', 0],
    ['{}', 1],
    ['[[], {"a": [1, {"b": null}]}]', 4],
    ['{"[[[[": "]]]]{{{", "q": "\\"[["}', 1],
    ['"\\\\"', 0],
    ['["é", "\u{1f600}", ["[\\u005b"]]', 2],
  ])('%s nests %i deep', (text, depth) => {
    expect(jsonDepth(bytes(text))).toBe(depth);
  });
});

// Found by test/reliability/property-http-surface.spec.ts: 3,000 nested brackets (6 KB) overflowed
// the stack of class-transformer (and of the Idempotency-Key fingerprint), answering 500.
describe('refuseDeeplyNestedJson', () => {
  it.each([
    ['arrays', '['.repeat(3_000) + ']'.repeat(3_000)],
    ['objects', '{"a":'.repeat(30_000) + '1' + '}'.repeat(30_000)],
    ['one level too many', '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1)],
  ])('refuses %s before parsing, as 400 VALIDATION_FAILED', (_label, text) => {
    let thrown: unknown;
    try {
      verify(text);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(AppException);
    expect(thrown).toMatchObject({ code: 'VALIDATION_FAILED', detail: `The request body nests more than ${MAX_JSON_DEPTH} levels deep` });
    expect((thrown as AppException).getStatus()).toBe(400);
  });

  it('lets ordinary bodies, and brackets inside strings, through', () => {
    expect(() => verify('{"name":"web-1","cloudInit":{"sshAuthorizedKeys":["ssh-ed25519 AAAA a@b"]}}')).not.toThrow();
    expect(() => verify(JSON.stringify({ description: '['.repeat(10_000) }))).not.toThrow();
    expect(() => verify('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH))).not.toThrow();
  });
});
