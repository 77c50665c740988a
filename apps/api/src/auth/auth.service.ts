import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomBytes } from 'node:crypto';
import { Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { AppConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { PasswordHasher } from '../users/password-hasher';
import { UserAccessCache } from '../users/user-access-cache';
import { User } from '../users/user.entity';
import { UsersService } from '../users/users.service';
import { LoginDto, RegisterDto, RegisteredDto } from './dto/auth-requests.dto';
import { TokenPairDto } from './dto/token-pair.dto';
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
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly audit: AuditService,
    private readonly access: UserAccessCache,
  ) {}

  async register(dto: RegisterDto): Promise<RegisteredDto> {
    if (this.config.registration === 'closed') {
      throw new AppException(HttpStatus.FORBIDDEN, ErrorCode.REGISTRATION_CLOSED, 'Self-registration is closed; ask an admin for an account');
    }
    const status = this.config.registration === 'open' ? 'active' : 'pending';
    const user = await this.usersService.create({ username: dto.username, password: dto.password, role: 'user', status });
    return { id: user.id, username: user.username, status: user.status };
  }

  /**
   * Checks the lock-out before the password, so a locked account cannot be
   * probed, and reveals pending/disabled only to someone who knows the password.
   */
  async login(dto: LoginDto): Promise<TokenPairDto> {
    const user = await this.users.createQueryBuilder('user').addSelect('user.passwordHash').where('user.username = :username', { username: dto.username.toLowerCase() }).getOne();
    if (!user) {
      this.dummyHash ??= this.hasher.hash(randomBytes(16).toString('hex'));
      await this.hasher.verify(await this.dummyHash, dto.password);
      throw this.invalidCredentials();
    }
    this.assertNotLocked(user.lockedUntil);
    if (!(await this.hasher.verify(user.passwordHash, dto.password))) {
      await this.recordFailure(user.id);
      throw this.invalidCredentials();
    }
    if (user.failedLoginCount > 0) await this.users.update({ id: user.id }, { failedLoginCount: 0, lockedUntil: null });
    if (user.status === 'pending') throw new AppException(HttpStatus.FORBIDDEN, ErrorCode.ACCOUNT_PENDING, 'The account is waiting for admin approval');
    if (user.status === 'disabled') throw new AppException(HttpStatus.FORBIDDEN, ErrorCode.ACCOUNT_DISABLED, 'The account is disabled');
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
    await this.users.increment({ id: userId }, 'tokenVersion', 1);
    await this.access.changed(userId);
    await this.users.query(`UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, [userId]);
  }

  async me(userId: string): Promise<User> {
    return this.usersService.get(userId);
  }

  /** One atomic statement, so concurrent failures all count and the lock trips exactly once. */
  private async recordFailure(userId: string): Promise<void> {
    // TypeORM's postgres driver answers an UPDATE ... RETURNING with [rows, rowCount].
    const [rows]: [Array<{ locked_until: Date | null }>, number] = await this.users.query(
      `UPDATE users SET
         failed_login_count = CASE WHEN failed_login_count + 1 >= $2 THEN 0 ELSE failed_login_count + 1 END,
         locked_until = CASE WHEN failed_login_count + 1 >= $2 THEN now() + make_interval(mins => $3) ELSE locked_until END
       WHERE id = $1
       RETURNING locked_until`,
      [userId, this.config.lockoutThreshold, this.config.lockoutMinutes],
    );
    const lockedUntil = rows[0]?.locked_until ?? null;
    this.assertNotLocked(lockedUntil ? new Date(lockedUntil) : null);
  }

  private assertNotLocked(lockedUntil: Date | null): void {
    const remainingMs = lockedUntil ? lockedUntil.getTime() - Date.now() : 0;
    if (remainingMs <= 0) return;
    const retryAfter = String(Math.ceil(remainingMs / 1000));
    throw new AppException(HttpStatus.TOO_MANY_REQUESTS, ErrorCode.ACCOUNT_LOCKED, `Too many failed logins; the account is locked for ${retryAfter} s`, {}, { 'Retry-After': retryAfter });
  }

  private invalidCredentials(): AppException {
    return new AppException(HttpStatus.UNAUTHORIZED, ErrorCode.INVALID_CREDENTIALS, 'Wrong username or password');
  }
}
