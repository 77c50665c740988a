import { USERNAME_PATTERN } from '../users/dto/credentials';

/** The base of a new account's name: preferred_username folded into a-z 0-9 . _ - (3-25 chars, room for a suffix). */
export function usernameBase(preferred: unknown): string {
  const folded = (typeof preferred === 'string' ? preferred : '')
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/@.*$/, '')
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 25);
  return folded.length >= 3 ? folded : `sso-${folded}`.replace(/-$/, '-user');
}

/** Names to try in order: the base, then base-2 … base-9, then a few random suffixes. */
export function* usernameCandidates(base: string, random: () => string): Generator<string> {
  yield base;
  for (let n = 2; n <= 9; n++) yield `${base}-${n}`;
  for (let n = 0; n < 5; n++) yield `${base}-${random()}`;
}

export function isValidUsername(name: string): boolean {
  return USERNAME_PATTERN.test(name);
}
