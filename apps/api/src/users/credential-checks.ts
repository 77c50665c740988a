import { HttpStatus, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AppException, ErrorCode } from '../common/problem';
import { LoginLockout } from './login-lockout';
import { PasswordHasher } from './password-hasher';
import { User } from './user.entity';
import { UserRepository } from './user.repository';

export function invalidCredentials(): AppException {
  return new AppException(HttpStatus.UNAUTHORIZED, ErrorCode.INVALID_CREDENTIALS, 'Wrong username or password');
}

/** Refuses a pending or disabled account, in the same words for every way of signing in. */
export function assertMaySignIn(user: Pick<User, 'status'>): void {
  if (user.status === 'pending')
    throw new AppException(
      HttpStatus.FORBIDDEN,
      ErrorCode.ACCOUNT_PENDING,
      'The account is waiting for admin approval',
    );
  if (user.status === 'disabled')
    throw new AppException(HttpStatus.FORBIDDEN, ErrorCode.ACCOUNT_DISABLED, 'The account is disabled');
}

export function registrationClosed(): AppException {
  return new AppException(
    HttpStatus.FORBIDDEN,
    ErrorCode.REGISTRATION_CLOSED,
    'Self-registration is closed; ask an admin for an account',
  );
}

/**
 * Password and second-factor checks under the login lock-out, shared by sign-in, the second
 * factor and self-service: every wrong password or code counts against the same
 * (username, client) pair, so LOCKOUT_THRESHOLD wrong answers of any kind lock it.
 */
@Injectable()
export class CredentialChecks {
  /** Verified against when the username is unknown, so both paths cost one argon2 verify. */
  private dummyHash?: Promise<string>;

  constructor(
    private readonly hasher: PasswordHasher,
    private readonly users: UserRepository,
    private readonly lockout: LoginLockout,
  ) {}

  /**
   * The user, if the password is theirs. Checks the lock-out first, so a locked name cannot be
   * probed; a name that belongs to no account goes through the same steps and answers alike.
   */
  async verifyPassword(username: string, password: string, client: string): Promise<User> {
    await this.assertNotLocked(username, client);
    const user = await this.users.findWithPasswordHash(username);
    this.dummyHash ??= this.hasher.hash(randomBytes(16).toString('hex'));
    const verified = await this.hasher.verify(user?.passwordHash ?? (await this.dummyHash), password);
    if (!user || !verified) {
      await this.countFailure(username, client);
      throw invalidCredentials();
    }
    return user;
  }

  async assertNotLocked(username: string, client: string): Promise<void> {
    assertNotLocked(await this.lockout.lockedUntil(username, client));
  }

  /** Counts one wrong answer; throws 429 ACCOUNT_LOCKED if it was the one that locked the name. */
  async countFailure(username: string, client: string): Promise<void> {
    assertNotLocked(await this.lockout.recordFailure(username, client));
  }

  /** A completed sign-in forgets this client's failures for the name. */
  clear(username: string, client: string): Promise<void> {
    return this.lockout.clear(username, client);
  }
}

function assertNotLocked(lockedUntil: Date | null): void {
  const remainingMs = lockedUntil ? lockedUntil.getTime() - Date.now() : 0;
  if (remainingMs <= 0) return;
  const retryAfter = String(Math.ceil(remainingMs / 1000));
  throw new AppException(
    HttpStatus.TOO_MANY_REQUESTS,
    ErrorCode.ACCOUNT_LOCKED,
    `Too many failed logins for this name from this address; try again in ${retryAfter} s`,
    {},
    { 'Retry-After': retryAfter },
  );
}
