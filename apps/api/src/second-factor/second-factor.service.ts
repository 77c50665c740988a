import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { AppException, ErrorCode } from '../common/problem';
import { Transactions, Tx } from '../database/transaction';
import { CredentialChecks } from '../users/credential-checks';
import { lockoutClient } from '../users/login-lockout';
import { UserRepository } from '../users/user.repository';
import { SecondFactorProofDto } from './dto/second-factor.dto';
import { TotpCodes, TotpProvisioning } from './totp-codes';
import { UserTotpRepository } from './user-totp.repository';

export function invalidSecondFactor(): AppException {
  return new AppException(
    HttpStatus.UNAUTHORIZED,
    ErrorCode.INVALID_SECOND_FACTOR,
    'The code or recovery code is wrong, already used or expired',
  );
}

function conflict(detail: string): AppException {
  return new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, detail);
}

/** A user's TOTP factor: enrolment, proofs (each code and recovery code accepted once), removal. */
@Injectable()
export class SecondFactorService {
  private readonly logger = new Logger('SecondFactor');

  constructor(
    private readonly factors: UserTotpRepository,
    private readonly codes: TotpCodes,
    private readonly users: UserRepository,
    private readonly checks: CredentialChecks,
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
  ) {}

  async isEnabled(userId: string): Promise<boolean> {
    return (await this.factors.find(userId))?.confirmedAt != null;
  }

  /** A new secret, pending until a code confirms it; an enabled factor must be disabled first (409). */
  async enrol(userId: string, username: string): Promise<TotpProvisioning> {
    const secret = this.codes.newSecret();
    if (!(await this.factors.savePending(userId, this.codes.encryptSecret(secret, userId))))
      throw conflict('The second factor is already enabled; disable it first to enrol a new one');
    return this.codes.provisioning(secret, username);
  }

  /** Enables the pending factor with a code from it; answers the ten recovery codes, shown only now. */
  async confirm(userId: string, code: string, tx?: Tx): Promise<string[]> {
    const work = async (tx: Tx) => {
      const factor = await this.factors.find(userId, tx, { lock: true });
      if (!factor || factor.confirmedAt) throw conflict('No enrolment is waiting for a code; start one first');
      const step = this.codes.matchStep(this.secretOf(factor.secretEncrypted, userId) ?? '', code);
      if (step === null) return null;
      const { codes, hashes } = this.codes.newRecoveryCodes();
      await this.factors.confirm(tx, userId, step, hashes);
      return codes;
    };
    const codes = tx ? await work(tx) : await this.transactions.run(work);
    if (!codes) throw invalidSecondFactor();
    this.audit.annotate({ action: 'auth.totp-enable', targetId: userId });
    return codes;
  }

  /**
   * Checks a proof against the enabled factor and spends it: a code of a later step than the last
   * accepted one, or an unused recovery code. False for anything else, with nothing changed.
   */
  async spendProof(tx: Tx, userId: string, proof: SecondFactorProofDto): Promise<boolean> {
    const factor = await this.factors.find(userId, tx, { lock: true });
    if (!factor?.confirmedAt) return false;
    if (proof.recoveryCode !== undefined)
      return this.factors.useRecoveryCode(tx, userId, this.codes.hashRecoveryCode(proof.recoveryCode));
    const secret = this.secretOf(factor.secretEncrypted, userId);
    const step = secret === null || proof.code === undefined ? null : this.codes.matchStep(secret, proof.code);
    return step !== null && this.factors.acceptStep(tx, userId, step);
  }

  /** Turns the factor off, with a current code or a recovery code (wrong ones count in the lock-out). */
  async disable(userId: string, username: string, proof: SecondFactorProofDto, ip: string | undefined): Promise<void> {
    await this.withProof(userId, username, proof, ip, (tx) => this.factors.remove(userId, tx));
    this.audit.annotate({ action: 'auth.totp-disable', targetId: userId });
  }

  /** Ten new recovery codes in place of the old ones, with a current code or a recovery code. */
  async renewRecoveryCodes(
    userId: string,
    username: string,
    proof: SecondFactorProofDto,
    ip: string | undefined,
  ): Promise<string[]> {
    const { codes, hashes } = this.codes.newRecoveryCodes();
    await this.withProof(userId, username, proof, ip, (tx) => this.factors.replaceRecoveryCodes(tx, userId, hashes));
    this.audit.annotate({ action: 'auth.totp-recovery-codes', targetId: userId });
    return codes;
  }

  /** An admin's reset: the user's factor and recovery codes are gone (whether or not there were any). */
  async reset(userId: string): Promise<void> {
    if (!(await this.users.find(userId))) throw AppException.notFound('User');
    const removed = await this.factors.remove(userId);
    this.audit.annotate({ action: 'users.totp-reset', targetId: userId, before: { totpEnabled: removed } });
  }

  private async withProof(
    userId: string,
    username: string,
    proof: SecondFactorProofDto,
    ip: string | undefined,
    work: (tx: Tx) => Promise<unknown>,
  ): Promise<void> {
    if (!(await this.isEnabled(userId))) throw conflict('The second factor is not enabled');
    const client = lockoutClient(ip);
    await this.checks.assertNotLocked(username, client);
    const accepted = await this.transactions.run(async (tx) => {
      if (!(await this.spendProof(tx, userId, proof))) return false;
      await work(tx);
      return true;
    });
    if (!accepted) {
      await this.checks.countFailure(username, client);
      throw invalidSecondFactor();
    }
  }

  /** Null when the secret does not decrypt (JWT_SECRET changed since enrolment): no code can match. */
  private secretOf(stored: string, userId: string): string | null {
    try {
      return this.codes.decryptSecret(stored, userId);
    } catch {
      this.logger.error(
        `the TOTP secret of user ${userId} does not decrypt (was JWT_SECRET changed?); an admin can reset it`,
      );
      return null;
    }
  }
}
