import { HttpStatus, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { DataSource, EntityManager, IsNull } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { AppConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { User } from '../users/user.entity';
import { TokenPairDto } from './dto/token-pair.dto';
import { RefreshToken } from './refresh-token.entity';

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

type RotationOutcome = { kind: 'rotated'; user: User; refreshToken: string } | { kind: 'reused'; userId: string } | { kind: 'invalid' };

/**
 * Issues access tokens (15-minute HS256 JWTs) and opaque, single-use refresh
 * tokens that are stored only as SHA-256 hashes and rotated on every use.
 */
@Injectable()
export class TokenService {
  constructor(
    private readonly jwt: JwtService,
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  async issuePair(user: User): Promise<TokenPairDto> {
    const refreshToken = await this.storeRefreshToken(this.dataSource.manager, user.id, randomUUID());
    return this.pair(user, refreshToken);
  }

  /**
   * Exchanges a refresh token for a new pair. Presenting a token that was
   * already rotated means it leaked: the whole family is revoked.
   */
  async rotate(presented: string): Promise<TokenPairDto> {
    const outcome = await this.dataSource.transaction(async (manager): Promise<RotationOutcome> => {
      const current = await manager.findOne(RefreshToken, { where: { tokenHash: sha256(presented) }, lock: { mode: 'pessimistic_write' } });
      if (!current) return { kind: 'invalid' };
      if (current.replacedById !== null) {
        await this.revokeFamily(manager, current.familyId);
        return { kind: 'reused', userId: current.userId };
      }
      if (current.revokedAt !== null || current.expiresAt.getTime() <= Date.now()) return { kind: 'invalid' };
      const user = await manager.findOneBy(User, { id: current.userId });
      if (!user || user.status !== 'active') return { kind: 'invalid' };
      const refreshToken = await this.storeRefreshToken(manager, user.id, current.familyId, current.id);
      return { kind: 'rotated', user, refreshToken };
    });
    if (outcome.kind === 'reused') {
      this.audit.annotate({ action: 'auth.refresh-reuse-detected', targetId: outcome.userId });
      throw new AppException(HttpStatus.UNAUTHORIZED, ErrorCode.REFRESH_TOKEN_REUSED, 'This refresh token was already used; its session has been revoked');
    }
    if (outcome.kind === 'invalid') {
      throw new AppException(HttpStatus.UNAUTHORIZED, ErrorCode.INVALID_REFRESH_TOKEN, 'The refresh token is invalid, expired or revoked');
    }
    return this.pair(outcome.user, outcome.refreshToken);
  }

  /** Revokes one refresh token. Unknown tokens are ignored, so logout never reveals validity. */
  async revoke(presented: string): Promise<void> {
    await this.dataSource.manager.update(RefreshToken, { tokenHash: sha256(presented), revokedAt: IsNull() }, { revokedAt: new Date() });
  }

  private pair(user: User, refreshToken: string): TokenPairDto {
    const accessToken = this.jwt.sign(
      { sub: user.id, role: user.role, ver: user.tokenVersion },
      { jwtid: randomUUID(), expiresIn: this.config.accessTokenTtlSeconds, algorithm: 'HS256' },
    );
    return { accessToken, refreshToken, tokenType: 'Bearer', expiresIn: this.config.accessTokenTtlSeconds };
  }

  private async storeRefreshToken(manager: EntityManager, userId: string, familyId: string, replaces?: string): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + this.config.refreshTokenTtlDays * 86_400_000);
    const saved = await manager.save(manager.create(RefreshToken, { userId, familyId, tokenHash: sha256(token), expiresAt, revokedAt: null, replacedById: null }));
    if (replaces) await manager.update(RefreshToken, { id: replaces }, { replacedById: saved.id, revokedAt: new Date() });
    return token;
  }

  private async revokeFamily(manager: EntityManager, familyId: string): Promise<void> {
    await manager.query(`UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`, [familyId]);
  }
}
