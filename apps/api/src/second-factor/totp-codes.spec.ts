import { Secret, TOTP } from 'otpauth';
import type { AppConfig } from '../config/app-config';
import type { Tx } from '../database/transaction';
import type { AuditService } from '../audit/audit.service';
import type { CredentialChecks } from '../users/credential-checks';
import type { UserRepository } from '../users/user.repository';
import { SecondFactorService } from './second-factor.service';
import { TotpCodes } from './totp-codes';
import type { UserTotp } from './user-totp.entity';
import type { UserTotpRepository } from './user-totp.repository';

const config = { jwtSecret: 'x'.repeat(48), identity: { totpIssuer: 'LIMEN' } } as AppConfig;
const codeAt = (secret: string, timestamp: number) =>
  TOTP.generate({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30, timestamp });

describe('TotpCodes', () => {
  const codes = new TotpCodes(config);
  const secret = codes.newSecret();
  const stepStart = 59_999 * 30_000; // the first millisecond of step 59999

  it('makes 160-bit base32 secrets and an otpauth URI with the issuer, and a QR code as SVG', async () => {
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const provisioning = await codes.provisioning(secret, 'alice');
    expect(provisioning.otpauthUri).toBe(
      `otpauth://totp/LIMEN:alice?issuer=LIMEN&secret=${secret}&algorithm=SHA1&digits=6&period=30`,
    );
    expect(provisioning.qrSvg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
  });

  it('matches a code to its own step, one step either side of now, and no further', () => {
    const now = stepStart + 15_000;
    expect(codes.matchStep(secret, codeAt(secret, now), now)).toBe(59_999);
    expect(codes.matchStep(secret, codeAt(secret, now - 30_000), now)).toBe(59_998);
    expect(codes.matchStep(secret, codeAt(secret, now + 30_000), now)).toBe(60_000);
    expect(codes.matchStep(secret, codeAt(secret, now - 60_000), now)).toBeNull();
    expect(codes.matchStep(secret, codeAt(secret, now + 60_000), now)).toBeNull();
  });

  it('moves to the next step at the boundary, to the millisecond', () => {
    const code = codeAt(secret, stepStart);
    expect(codes.matchStep(secret, code, stepStart)).toBe(59_999);
    expect(codes.matchStep(secret, code, stepStart - 1)).toBe(59_999); // next step, within the window
    expect(codes.matchStep(secret, code, stepStart + 30_000 + 29_999)).toBe(59_999); // previous step now
    expect(codes.matchStep(secret, code, stepStart + 60_000)).toBeNull(); // two steps back: expired
    expect(codes.matchStep(secret, code, stepStart - 30_001)).toBeNull(); // two steps ahead
  });

  it('encrypts the secret for one user: another user id, or another JWT_SECRET, does not decrypt it', () => {
    const stored = codes.encryptSecret(secret, 'user-a');
    expect(stored).not.toContain(secret);
    expect(codes.decryptSecret(stored, 'user-a')).toBe(secret);
    expect(codes.encryptSecret(secret, 'user-a')).not.toBe(stored); // a fresh IV each time
    expect(() => codes.decryptSecret(stored, 'user-b')).toThrow();
    const other = new TotpCodes({ ...config, jwtSecret: 'y'.repeat(48) } as AppConfig);
    expect(() => other.decryptSecret(stored, 'user-a')).toThrow();
  });

  it('makes ten distinct recovery codes, hashed case- and dash-insensitively under a key of JWT_SECRET', () => {
    const { codes: recovery, hashes } = codes.newRecoveryCodes();
    expect(recovery).toHaveLength(10);
    expect(new Set(recovery).size).toBe(10);
    for (const code of recovery) expect(code).toMatch(/^[a-z2-7]{5}-[a-z2-7]{5}$/);
    expect(codes.hashRecoveryCode(recovery[0].toUpperCase().replace('-', ''))).toBe(hashes[0]);
    expect(hashes[0]).not.toContain(recovery[0].replace('-', ''));
    expect(new TotpCodes({ ...config, jwtSecret: 'y'.repeat(48) } as AppConfig).hashRecoveryCode(recovery[0])).not.toBe(
      hashes[0],
    );
  });
});

/** user_totp in memory, with the conditions of UserTotpRepository's statements. */
class FakeFactors {
  row: UserTotp | null = null;
  async find(): Promise<UserTotp | null> {
    return this.row && { ...this.row, recoveryCodeHashes: [...this.row.recoveryCodeHashes] };
  }
  async acceptStep(_tx: Tx, _userId: string, step: number): Promise<boolean> {
    if (!this.row?.confirmedAt || (this.row.lastUsedStep !== null && this.row.lastUsedStep >= step)) return false;
    this.row.lastUsedStep = step;
    return true;
  }
  async useRecoveryCode(_tx: Tx, _userId: string, hash: string): Promise<boolean> {
    if (!this.row?.confirmedAt || !this.row.recoveryCodeHashes.includes(hash)) return false;
    this.row.recoveryCodeHashes = this.row.recoveryCodeHashes.filter((h) => h !== hash);
    return true;
  }
}

describe('SecondFactorService.spendProof', () => {
  const codes = new TotpCodes(config);
  const secret = codes.newSecret();
  const { codes: recovery, hashes } = codes.newRecoveryCodes();
  let factors: FakeFactors;
  let service: SecondFactorService;
  const tx = {} as Tx;

  beforeEach(() => {
    jest.useFakeTimers({ now: 60_000 * 30_000 + 10_000 });
    factors = new FakeFactors();
    factors.row = {
      userId: 'u1',
      secretEncrypted: codes.encryptSecret(secret, 'u1'),
      confirmedAt: new Date(),
      lastUsedStep: null,
      recoveryCodeHashes: hashes,
      createdAt: new Date(),
    };
    const unused = undefined as never;
    service = new SecondFactorService(
      factors as unknown as UserTotpRepository,
      codes,
      unused as UserRepository,
      unused as CredentialChecks,
      unused,
      { annotate: () => undefined } as unknown as AuditService,
    );
  });
  afterEach(() => jest.useRealTimers());

  it('accepts a code once: the same code again, or one of an earlier step, is a replay', async () => {
    const now = Date.now();
    expect(await service.spendProof(tx, 'u1', { code: codeAt(secret, now) })).toBe(true);
    expect(await service.spendProof(tx, 'u1', { code: codeAt(secret, now) })).toBe(false);
    expect(await service.spendProof(tx, 'u1', { code: codeAt(secret, now - 30_000) })).toBe(false);
    // The next step's code (within the window) is newer: accepted, once.
    expect(await service.spendProof(tx, 'u1', { code: codeAt(secret, now + 30_000) })).toBe(true);
    expect(await service.spendProof(tx, 'u1', { code: codeAt(secret, now + 30_000) })).toBe(false);
    jest.advanceTimersByTime(60_000);
    expect(await service.spendProof(tx, 'u1', { code: codeAt(secret, Date.now()) })).toBe(true);
  });

  it('accepts each recovery code once, in any case', async () => {
    expect(await service.spendProof(tx, 'u1', { recoveryCode: recovery[3].toUpperCase() })).toBe(true);
    expect(await service.spendProof(tx, 'u1', { recoveryCode: recovery[3] })).toBe(false);
    expect(await service.spendProof(tx, 'u1', { recoveryCode: recovery[4] })).toBe(true);
    expect(factors.row!.recoveryCodeHashes).toHaveLength(8);
    expect(await service.spendProof(tx, 'u1', { recoveryCode: 'aaaaa-aaaaa' })).toBe(false);
  });

  it('accepts nothing for a factor that is pending or absent, or whose secret no longer decrypts', async () => {
    factors.row!.confirmedAt = null;
    expect(await service.spendProof(tx, 'u1', { code: codeAt(secret, Date.now()) })).toBe(false);
    expect(await service.spendProof(tx, 'u1', { recoveryCode: recovery[0] })).toBe(false);
    factors.row!.confirmedAt = new Date();
    factors.row!.secretEncrypted = codes.encryptSecret(secret, 'someone-else');
    expect(await service.spendProof(tx, 'u1', { code: codeAt(secret, Date.now()) })).toBe(false);
    factors.row = null;
    expect(await service.spendProof(tx, 'u1', { code: codeAt(secret, Date.now()) })).toBe(false);
  });
});
