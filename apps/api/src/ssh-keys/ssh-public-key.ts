import { parseKey } from 'sshpk';

export const SSH_KEY_TYPES = ['ed25519', 'ecdsa', 'rsa'] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

/** The weakest RSA key accepted (as OpenSSH 9 and NIST SP 800-131A say). */
export const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 16384;

/** An accepted public key: what the `ssh_keys` row keeps of it. */
export interface ParsedSshKey {
  /** `type base64 [comment]`, one line, as authorized_keys takes it. */
  publicKey: string;
  type: SshKeyType;
  bits: number;
  /** `SHA256:…` (unpadded base64), as `ssh-keygen -l` prints it. */
  fingerprint: string;
}

/** Why a text is not an acceptable public key; the message is safe to show (it never quotes the input). */
export class SshKeyRefusal extends Error {}

// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

/**
 * Parses one OpenSSH public key line (`ssh-ed25519 AAAA… comment`) with sshpk and checks it is a
 * kind worth installing: ed25519, ECDSA, or RSA of at least 2048 bits. DSA (refused by OpenSSH
 * itself since 7.0), short RSA, private keys, several lines, PEM/RFC 4716 blocks, certificates,
 * options prefixes and anything unparsable are refused with the reason.
 */
export function parseSshPublicKey(text: string): ParsedSshKey {
  const line = text.trim();
  if (/PRIVATE KEY|PuTTY-User-Key-File/i.test(line)) {
    throw new SshKeyRefusal(
      'publicKey is a private key: give its public half (the .pub file) instead, and keep the private key secret',
    );
  }
  if (/[\r\n]/.test(line)) throw new SshKeyRefusal('publicKey must be one line: exactly one OpenSSH public key');
  if (CONTROL.test(line)) throw new SshKeyRefusal('publicKey must not contain control characters');
  const [algorithm, blob, ...rest] = line.split(/[ \t]+/);
  if (!blob) throw new SshKeyRefusal('publicKey must be an OpenSSH public key line: "<type> <base64> [comment]"');
  const comment = rest.join(' ');
  let key: ReturnType<typeof parseKey>;
  try {
    key = parseKey(`${algorithm} ${blob}`, 'ssh');
  } catch {
    throw new SshKeyRefusal('publicKey is not a valid OpenSSH public key ("<type> <base64> [comment]")');
  }
  const type = key.type as string;
  if (type === 'dsa') throw new SshKeyRefusal('DSA keys are refused (too weak; OpenSSH disabled them): use ed25519');
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type)) {
    throw new SshKeyRefusal(
      `${type} keys are not supported: use ed25519, ecdsa or rsa (at least ${MIN_RSA_BITS} bits)`,
    );
  }
  if (type === 'rsa' && key.size < MIN_RSA_BITS) {
    throw new SshKeyRefusal(`The RSA key has ${key.size} bits; at least ${MIN_RSA_BITS} are required (or use ed25519)`);
  }
  if (type === 'rsa' && key.size > MAX_RSA_BITS) {
    throw new SshKeyRefusal(`The RSA key has ${key.size} bits; at most ${MAX_RSA_BITS} are accepted`);
  }
  const [canonicalType, canonicalBlob] = key.toString('ssh').split(' ');
  return {
    publicKey: [canonicalType, canonicalBlob, comment].filter(Boolean).join(' '),
    type: type as SshKeyType,
    bits: key.size,
    fingerprint: key.fingerprint('sha256').toString(),
  };
}
