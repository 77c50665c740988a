import { Injectable } from '@nestjs/common';
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import * as QRCode from 'qrcode';
import { AppConfig } from '../config/app-config';

/** RFC 6238 with the parameters every authenticator app supports. */
const PERIOD_SECONDS = 30;
const DIGITS = 6;
const ALGORITHM = 'SHA1';
/** One step either side of now: clocks drift and people type slowly. */
const WINDOW = 1;
/** 160 bits, the length RFC 4226 recommends for HMAC-SHA1. */
const SECRET_BYTES = 20;
const RECOVERY_CODES = 10;
const RECOVERY_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
/** What a user may type: the code as shown (xxxxx-xxxxx), any case, with or without the dash. */
export const RECOVERY_CODE_INPUT = /^[A-Za-z2-7]{5}-?[A-Za-z2-7]{5}$/;

export interface TotpProvisioning {
  secret: string;
  otpauthUri: string;
  qrSvg: string;
}

/**
 * The TOTP arithmetic and the secrets at rest. Both keys are derived from JWT_SECRET with HKDF
 * (as TokenService derives its own), one per purpose:
 * - the TOTP secret is stored AES-256-GCM-encrypted, bound to its user id (as associated data),
 *   so a database dump alone does not yield codes and a row moved to another user does not decrypt;
 * - recovery codes (50 random bits each) are stored as HMAC-SHA256 under a server key: without
 *   JWT_SECRET a dump cannot be brute-forced offline, and online guesses meet the login lock-out.
 *   (argon2 would cost ~50 ms and 64 MiB per stored code on every attempt for no gain at 50 bits.)
 */
@Injectable()
export class TotpCodes {
  private readonly secretKey: Buffer;
  private readonly recoveryKey: Buffer;

  constructor(private readonly config: AppConfig) {
    this.secretKey = Buffer.from(hkdfSync('sha256', config.jwtSecret, 'limen-totp', 'secret-encryption', 32));
    this.recoveryKey = Buffer.from(hkdfSync('sha256', config.jwtSecret, 'limen-totp', 'recovery-codes', 32));
  }

  /** A new random secret, base32 (what authenticator apps take). */
  newSecret(): string {
    return new Secret({ size: SECRET_BYTES }).base32;
  }

  /** What an authenticator app needs: the secret, its otpauth:// URI and that URI as a QR code (SVG). */
  async provisioning(secret: string, username: string): Promise<TotpProvisioning> {
    const otpauthUri = this.totp(secret, username).toString();
    const qrSvg = await QRCode.toString(otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    return { secret, otpauthUri, qrSvg };
  }

  /** The time step `code` belongs to, if it is one of the steps around `now`; null otherwise. */
  matchStep(secret: string, code: string, now = Date.now()): number | null {
    const delta = TOTP.validate({
      token: code,
      secret: Secret.fromBase32(secret),
      algorithm: ALGORITHM,
      digits: DIGITS,
      period: PERIOD_SECONDS,
      timestamp: now,
      window: WINDOW,
    });
    return delta === null ? null : TOTP.counter({ period: PERIOD_SECONDS, timestamp: now }) + delta;
  }

  /** `iv.tag.ciphertext`, base64url each; `userId` is the associated data. */
  encryptSecret(secret: string, userId: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.secretKey, iv).setAAD(Buffer.from(userId));
    const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return [iv, cipher.getAuthTag(), ciphertext].map((part) => part.toString('base64url')).join('.');
  }

  /** Throws if the value was not encrypted for this user under this JWT_SECRET. */
  decryptSecret(stored: string, userId: string): string {
    const [iv, tag, ciphertext] = stored.split('.').map((part) => Buffer.from(part, 'base64url'));
    const decipher = createDecipheriv('aes-256-gcm', this.secretKey, iv).setAAD(Buffer.from(userId));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  }

  /** Ten new recovery codes as the user sees them, and their hashes as stored. */
  newRecoveryCodes(): { codes: string[]; hashes: string[] } {
    const codes = Array.from({ length: RECOVERY_CODES }, () => {
      const chars = [...randomBytes(10)].map((byte) => RECOVERY_ALPHABET[byte & 31]).join('');
      return `${chars.slice(0, 5)}-${chars.slice(5)}`;
    });
    return { codes, hashes: codes.map((code) => this.hashRecoveryCode(code)) };
  }

  /** Case and the dash do not matter. */
  hashRecoveryCode(code: string): string {
    const normalised = code.toLowerCase().replace(/-/g, '');
    return createHmac('sha256', this.recoveryKey).update(normalised).digest('hex');
  }

  private totp(secret: string, username: string): TOTP {
    return new TOTP({
      issuer: this.config.identity.totpIssuer,
      label: username,
      secret: Secret.fromBase32(secret),
      algorithm: ALGORITHM,
      digits: DIGITS,
      period: PERIOD_SECONDS,
    });
  }
}
