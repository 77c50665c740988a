import { createHash, randomBytes } from 'node:crypto';

/** Every secret starts with this, so secret scanners and the auth guard can recognise one. */
export const TOKEN_PREFIX = 'limen_pat_';
/** `limen_pat_` + 32 random bytes in base64url (43 characters). */
export const TOKEN_FORMAT = /^limen_pat_[A-Za-z0-9_-]{43}$/;

export function newSecret(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** SHA-256 is enough: the secret is 256 random bits, so there is nothing to brute-force. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
