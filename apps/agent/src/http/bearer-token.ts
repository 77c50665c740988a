import { createHash, timingSafeEqual } from 'node:crypto';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Checks `Authorization: Bearer <token>` in constant time. Both sides are hashed first so
 * timingSafeEqual always compares 32 bytes: comparing the raw strings would need equal
 * lengths and so leak the token's length, and an early exit would leak a matching prefix.
 */
export class BearerTokenVerifier {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
  }

  verify(authorization: string | undefined): boolean {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
    // Still hash and compare on a missing or malformed header, so every rejection costs the same.
    const presented = digest(match ? match[1] : '');
    return timingSafeEqual(presented, this.expected) && match !== null;
  }
}
