import { createHash, generateKeyPairSync } from 'node:crypto';
import { parseKey } from 'sshpk';
import { parseSshPublicKey, SshKeyRefusal } from './ssh-public-key';

/** An OpenSSH public key line for a key pair node generates (sshpk converts the SPKI PEM). */
function opensshLine(
  kind: 'ed25519' | 'rsa' | 'ec' | 'dsa',
  options: Record<string, unknown> = {},
  comment = 'me@host',
): string {
  const pem = generateKeyPairSync(
    kind as 'rsa',
    {
      ...options,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    } as never,
  ).publicKey as unknown as string;
  const [type, blob] = parseKey(pem, 'pem').toString('ssh').split(' ');
  return `${type} ${blob} ${comment}`;
}

/** What ssh-keygen -l prints: SHA256 of the key blob, base64 without padding. */
function keygenFingerprint(line: string): string {
  const blob = Buffer.from(line.split(' ')[1], 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

const ED25519 = opensshLine('ed25519');

describe('parseSshPublicKey', () => {
  it('accepts ed25519, ecdsa and rsa ≥ 2048 with their type, bits and ssh-keygen fingerprint', () => {
    const cases: Array<[string, string, number]> = [
      [ED25519, 'ed25519', 256],
      [opensshLine('ec', { namedCurve: 'P-256' }), 'ecdsa', 256],
      [opensshLine('ec', { namedCurve: 'P-384' }), 'ecdsa', 384],
      [opensshLine('ec', { namedCurve: 'P-521' }), 'ecdsa', 521],
      [opensshLine('rsa', { modulusLength: 2048 }), 'rsa', 2048],
    ];
    for (const [line, type, bits] of cases) {
      expect(parseSshPublicKey(line)).toEqual({ publicKey: line, type, bits, fingerprint: keygenFingerprint(line) });
    }
  });

  it('normalises spacing and keeps the comment (with its inner spaces) or none', () => {
    const [type, blob] = ED25519.split(' ');
    expect(parseSshPublicKey(`  ${type}\t${blob}   laptop key  \n`).publicKey).toBe(`${type} ${blob} laptop key`);
    expect(parseSshPublicKey(`${type} ${blob}`).publicKey).toBe(`${type} ${blob}`);
  });

  it.each([
    ['an RSA key under 2048 bits', opensshLine('rsa', { modulusLength: 1024 }), /1024 bits; at least 2048/],
    ['a DSA key', opensshLine('dsa', { modulusLength: 1024, divisorLength: 160 }), /DSA keys are refused/],
    ['garbage', 'hello world', /not a valid OpenSSH public key/],
    ['a lone word', 'ssh-ed25519', /OpenSSH public key line/],
    ['a truncated key', ED25519.slice(0, 40), /not a valid/],
    ['a type that does not match the key', `ssh-rsa ${ED25519.split(' ')[1]}`, /not a valid/],
    ['two keys on two lines', `${ED25519}\n${ED25519}`, /one line/],
    ['an options prefix', `command="rm -rf /" ${ED25519}`, /not a valid/],
    [
      'an OpenSSH private key',
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----',
      /private key/,
    ],
    ['a PEM public key', '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----', /one line/],
    ['a control character in the comment', `${ED25519}\u0007bell`, /control characters/],
  ])('refuses %s', (_what, text, reason) => {
    expect(() => parseSshPublicKey(text)).toThrow(SshKeyRefusal);
    expect(() => parseSshPublicKey(text)).toThrow(reason);
  });

  it('never quotes the input in its reason', () => {
    const secretish = 'ssh-ed25519 AAAAnotreallyakeybutsecretlooking';
    try {
      parseSshPublicKey(secretish);
    } catch (error) {
      expect((error as Error).message).not.toContain('AAAAnotreally');
    }
  });
});
