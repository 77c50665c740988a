import { HttpStatus, Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { Transactions } from '../database/transaction';
import { CredentialChecks } from '../users/credential-checks';
import { lockoutClient } from '../users/login-lockout';
import { User } from '../users/user.entity';
import { UserRepository } from '../users/user.repository';
import { SecondFactorLoginRequestDto } from './dto/second-factor.dto';
import { invalidSecondFactor, SecondFactorService } from './second-factor.service';
import { SecondFactorChallengeRepository } from './second-factor-challenge.repository';
import { TotpCodes, TotpProvisioning } from './totp-codes';

const CHALLENGE_TTL_MS = 5 * 60_000;

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

function invalidChallenge(): AppException {
  return new AppException(
    HttpStatus.UNAUTHORIZED,
    ErrorCode.INVALID_CHALLENGE,
    'The sign-in challenge is unknown, used or expired; sign in with your password again',
  );
}

/**
 * The step between a right password and a session when a second factor is on (or REQUIRE_2FA
 * demands one): an opaque challenge, stored only as its SHA-256, live 5 minutes, spent by the
 * sign-in it completes. Wrong codes count in the login lock-out of (username, client), which the
 * password alone does not clear; and a challenge is spent after LOCKOUT_THRESHOLD wrong codes,
 * so one password buys a bounded number of guesses from any number of addresses.
 */
@Injectable()
export class LoginChallenges {
  constructor(
    private readonly config: AppConfig,
    private readonly challenges: SecondFactorChallengeRepository,
    private readonly secondFactor: SecondFactorService,
    private readonly codes: TotpCodes,
    private readonly users: UserRepository,
    private readonly checks: CredentialChecks,
    private readonly transactions: Transactions,
  ) {}

  /** Throws 401 SECOND_FACTOR_REQUIRED with a new challenge if this user's sign-in needs a second factor. */
  async demandSecondFactor(user: User): Promise<void> {
    const enabled = await this.secondFactor.isEnabled(user.id);
    const { require2fa } = this.config.identity;
    const required = require2fa === 'all' || (require2fa === 'admins' && user.role === 'admin');
    if (!enabled && !required) return;
    const challenge = randomBytes(32).toString('base64url');
    await this.challenges.add({
      userId: user.id,
      tokenHash: sha256(challenge),
      enrolment: !enabled,
      expiresAt: new Date(Date.now() + CHALLENGE_TTL_MS),
    });
    throw new AppException(
      HttpStatus.UNAUTHORIZED,
      ErrorCode.SECOND_FACTOR_REQUIRED,
      enabled
        ? 'Send a code from your authenticator app (or a recovery code) with this challenge'
        : 'A second factor is required: enrol one with this challenge, then confirm it with a code',
      { challenge, enrolment: !enabled },
    );
  }

  /** For a challenge that demands an enrolment: a new secret for the user's authenticator app. */
  async startEnrolment(challenge: string): Promise<TotpProvisioning> {
    const { user, row } = await this.live(challenge);
    if (!row.enrolment) throw invalidChallenge();
    return this.secondFactor.enrol(user.id, user.username);
  }

  /** The user whose sign-in the proof completes, and the recovery codes when it completed an enrolment. */
  async complete(
    dto: SecondFactorLoginRequestDto,
    ip: string | undefined,
  ): Promise<{ user: User; recoveryCodes?: string[] }> {
    const { user, row } = await this.live(dto.challenge);
    const client = lockoutClient(ip);
    await this.checks.assertNotLocked(user.username, client);
    let recoveryCodes: string[] | undefined;
    let accepted: boolean;
    try {
      accepted = await this.transactions.run(async (tx) => {
        const locked = await this.challenges.findLive(sha256(dto.challenge), tx);
        if (!locked) throw invalidChallenge();
        if (row.enrolment) {
          if (dto.code === undefined) return false;
          recoveryCodes = await this.secondFactor.confirm(user.id, dto.code, tx);
        } else if (!(await this.secondFactor.spendProof(tx, user.id, dto))) return false;
        return this.challenges.consume(tx, locked.id);
      });
    } catch (error) {
      if (!(error instanceof AppException && error.code === ErrorCode.INVALID_SECOND_FACTOR)) throw error;
      accepted = false;
    }
    if (!accepted) {
      await this.challenges.countFailure(row.id, this.config.lockoutThreshold);
      await this.checks.countFailure(user.username, client);
      throw invalidSecondFactor();
    }
    await this.checks.clear(user.username, client);
    return { user, recoveryCodes };
  }

  private async live(challenge: string) {
    const row = await this.challenges.findLive(sha256(challenge));
    const user = row ? await this.users.find(row.userId) : null;
    if (!row || !user || user.status !== 'active') throw invalidChallenge();
    return { user, row };
  }
}
