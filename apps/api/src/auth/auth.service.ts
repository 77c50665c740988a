import { HttpStatus, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { AppConfig } from '../config/app-config';
import { AppException } from '../common/problem';
import { LoginChallenges } from '../second-factor/login-challenges';
import { SecondFactorLoginDto, SecondFactorLoginRequestDto } from '../second-factor/dto/second-factor.dto';
import { TotpProvisioning } from '../second-factor/totp-codes';
import { assertMaySignIn, CredentialChecks, registrationClosed } from '../users/credential-checks';
import { lockoutClient } from '../users/login-lockout';
import { UserAccessCache } from '../users/user-access-cache';
import { User } from '../users/user.entity';
import { UserRepository } from '../users/user.repository';
import { UsersService } from '../users/users.service';
import { LoginDto, RegisterDto, RegisteredDto } from './dto/auth-requests.dto';
import { TokenPairDto } from './dto/token-pair.dto';
import { revokedToken } from './auth-errors';
import { RefreshTokenRepository } from './refresh-token.repository';
import { ClientOrigin, TokenService } from './token.service';

@Injectable()
export class AuthService {
  constructor(
    private readonly config: AppConfig,
    private readonly usersService: UsersService,
    private readonly tokens: TokenService,
    private readonly users: UserRepository,
    private readonly refreshTokens: RefreshTokenRepository,
    private readonly audit: AuditService,
    private readonly access: UserAccessCache,
    private readonly checks: CredentialChecks,
    private readonly challenges: LoginChallenges,
  ) {}

  /**
   * Under `approval` a taken name answers exactly like a free one (same body, same argon2 work),
   * so registration alone does not reveal which names exist. (Signing in with the password just
   * registered does: `403 ACCOUNT_PENDING` if it made the account; but each such probe of a free
   * name leaves a pending account for admins to see.) Under `open` a taken name is 409: the
   * account would work at once, so a sign-in would reveal it anyway.
   */
  async register(dto: RegisterDto): Promise<RegisteredDto> {
    if (this.config.registration === 'closed') throw registrationClosed();
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
  async login(dto: LoginDto, origin: ClientOrigin): Promise<TokenPairDto> {
    const username = dto.username.toLowerCase();
    const client = lockoutClient(origin.ip ?? undefined);
    const user = await this.checks.verifyPassword(username, dto.password, client);
    assertMaySignIn(user);
    this.audit.annotate({ targetId: user.id });
    // The password alone does not clear the lock-out when a code must follow: wrong codes count on.
    await this.challenges.demandSecondFactor(user);
    await this.checks.clear(username, client);
    return this.tokens.issuePair(user, origin);
  }

  /** The second step of a sign-in that answered SECOND_FACTOR_REQUIRED. */
  async completeSecondFactor(dto: SecondFactorLoginRequestDto, origin: ClientOrigin): Promise<SecondFactorLoginDto> {
    const { user, recoveryCodes } = await this.challenges.complete(dto, origin.ip ?? undefined);
    this.audit.annotate({ targetId: user.id, actorUsername: user.username });
    const pair = await this.tokens.issuePair(user, origin);
    return recoveryCodes ? { ...pair, recoveryCodes } : pair;
  }

  /** A sign-in's enrolment that REQUIRE_2FA demands: the secret for the authenticator app. */
  startEnrolment(challenge: string): Promise<TotpProvisioning> {
    return this.challenges.startEnrolment(challenge);
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
}
