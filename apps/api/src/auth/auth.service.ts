import { HttpStatus, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { AuditService } from '../audit/audit.service';
import { AppConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { lockoutClient, LoginLockout } from '../users/login-lockout';
import { PasswordHasher } from '../users/password-hasher';
import { UserAccessCache } from '../users/user-access-cache';
import { User } from '../users/user.entity';
import { UserRepository } from '../users/user.repository';
import { UsersService } from '../users/users.service';
import { LoginDto, RegisterDto, RegisteredDto } from './dto/auth-requests.dto';
import { TokenPairDto } from './dto/token-pair.dto';
import { revokedToken } from './jwt-auth.guard';
import { RefreshTokenRepository } from './refresh-token.repository';
import { TokenService } from './token.service';

@Injectable()
export class AuthService {
  /** Verified against when the username is unknown, so both paths cost one argon2 verify. */
  private dummyHash?: Promise<string>;

  constructor(
    private readonly config: AppConfig,
    private readonly usersService: UsersService,
    private readonly hasher: PasswordHasher,
    private readonly tokens: TokenService,
    private readonly users: UserRepository,
    private readonly refreshTokens: RefreshTokenRepository,
    private readonly audit: AuditService,
    private readonly access: UserAccessCache,
    private readonly lockout: LoginLockout,
  ) {}

  /**
   * Under `approval` a taken name answers exactly like a free one (same body, same argon2 work),
   * so registration alone does not reveal which names exist. (Signing in with the password just
   * registered does: `403 ACCOUNT_PENDING` if it made the account; but each such probe of a free
   * name leaves a pending account for admins to see.) Under `open` a taken name is 409: the
   * account would work at once, so a sign-in would reveal it anyway.
   */
  async register(dto: RegisterDto): Promise<RegisteredDto> {
    if (this.config.registration === 'closed') {
      throw new AppException(
        HttpStatus.FORBIDDEN,
        ErrorCode.REGISTRATION_CLOSED,
        'Self-registration is closed; ask an admin for an account',
      );
    }
    const credentials = { username: dto.username, password: dto.password, role: 'user' as const };
    if (this.config.registration === 'open') {
      const user = await this.usersService.create({ ...credentials, status: 'active' });
      return { id: user.id, username: user.username, status: user.status };
    }
    const user = await this.usersService.createUnlessTaken({ ...credentials, status: 'pending' });
    this.audit.annotate(user ? { targetId: user.id } : { action: 'auth.register-name-taken' });
    return { username: dto.username.toLowerCase(), status: 'pending' };
  }

  /**
   * Checks the lock-out before the password, so a locked name cannot be probed, and reveals
   * pending/disabled only to someone who knows the password. A name that belongs to no account
   * goes through the same steps (a dummy hash, the same lock-out), so it answers alike.
   */
  async login(dto: LoginDto, clientIp: string | undefined): Promise<TokenPairDto> {
    const username = dto.username.toLowerCase();
    const client = lockoutClient(clientIp);
    this.assertNotLocked(await this.lockout.lockedUntil(username, client));
    const user = await this.users.findWithPasswordHash(username);
    this.dummyHash ??= this.hasher.hash(randomBytes(16).toString('hex'));
    const verified = await this.hasher.verify(user?.passwordHash ?? (await this.dummyHash), dto.password);
    if (!user || !verified) {
      this.assertNotLocked(await this.lockout.recordFailure(username, client));
      throw this.invalidCredentials();
    }
    await this.lockout.clear(username, client);
    if (user.status === 'pending')
      throw new AppException(
        HttpStatus.FORBIDDEN,
        ErrorCode.ACCOUNT_PENDING,
        'The account is waiting for admin approval',
      );
    if (user.status === 'disabled')
      throw new AppException(HttpStatus.FORBIDDEN, ErrorCode.ACCOUNT_DISABLED, 'The account is disabled');
    this.audit.annotate({ targetId: user.id });
    return this.tokens.issuePair(user);
  }

  refresh(refreshToken: string): Promise<TokenPairDto> {
    return this.tokens.rotate(refreshToken);
  }

  logout(refreshToken: string): Promise<void> {
    return this.tokens.revoke(refreshToken);
  }

  /** Signs the user out everywhere: every access and refresh token stops working. */
  async logoutEverywhere(userId: string): Promise<void> {
    await this.users.bumpTokenVersion(userId);
    await this.access.changed(userId);
    await this.refreshTokens.revokeAllOf(userId);
  }

  async me(userId: string): Promise<User> {
    // Another replica may have deleted the user while this one still trusted its cached access:
    // the token is revoked (401), not a missing resource (404).
    return this.usersService.get(userId).catch((error: unknown) => {
      throw error instanceof AppException && error.getStatus() === HttpStatus.NOT_FOUND ? revokedToken() : error;
    });
  }

  private assertNotLocked(lockedUntil: Date | null): void {
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

  private invalidCredentials(): AppException {
    return new AppException(HttpStatus.UNAUTHORIZED, ErrorCode.INVALID_CREDENTIALS, 'Wrong username or password');
  }
}
