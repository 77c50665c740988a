import { HttpStatus, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { insufficientScope } from '../auth/auth-errors';
import { AuthUser } from '../auth/decorators';
import { scopeAllows } from '../auth/scopes';
import { AppConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { Transactions } from '../database/transaction';
import { UserAccessCache } from '../users/user-access-cache';
import { ApiToken } from './api-token.entity';
import { ApiTokenRepository } from './api-token.repository';
import { hashSecret, newSecret } from './api-token-secret';
import { ApiTokenQueryDto, CreateApiTokenDto, MAX_EXPIRY_DAYS } from './dto/api-token.dto';

const DAY_MS = 86_400_000;

function invalid(field: string, message: string): AppException {
  return new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, message, {
    errors: [{ field, messages: [message] }],
  });
}

/**
 * Personal API tokens: created by their owner (the secret returned once, only its hash kept),
 * listed, revoked by the owner or an admin. A token acting for its owner never mints more than
 * it holds, and acts as an admin over other users' tokens only with the `admin` scope.
 */
@Injectable()
export class TokensService {
  constructor(
    private readonly tokens: ApiTokenRepository,
    private readonly transactions: Transactions,
    private readonly access: UserAccessCache,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
  ) {}

  async create(user: AuthUser, dto: CreateApiTokenDto): Promise<{ token: ApiToken; secret: string }> {
    const expiresAt = this.expiryOf(dto);
    const scopes = dto.scopes;
    if (scopes.includes('admin') && user.role !== 'admin')
      throw new AppException(HttpStatus.FORBIDDEN, ErrorCode.FORBIDDEN, 'Only admins can grant the admin scope');
    if (user.via === 'token') {
      const granted = user.scopes ?? [];
      const beyond = scopes.filter((s) => (s === 'admin' ? !granted.includes('admin') : !scopeAllows(granted, s)));
      if (beyond.length) throw insufficientScope(`This token cannot grant scopes it lacks: ${beyond.join(', ')}`);
    }
    const secret = newSecret();
    const token = await this.transactions.run(async (tx) => {
      await this.tokens.lockOwner(user.id, tx);
      const max = this.config.identity.maxApiTokensPerUser;
      if ((await this.tokens.countLive(user.id, tx)) >= max)
        throw new AppException(
          HttpStatus.CONFLICT,
          ErrorCode.CONFLICT,
          `You have ${max} live API tokens, the most allowed; revoke one first`,
        );
      const row = Object.assign(new ApiToken(), {
        userId: user.id,
        name: dto.name,
        scopes: [...scopes],
        tokenHash: hashSecret(secret),
        hint: secret.slice(-4),
        expiresAt,
        lastUsedAt: null,
        lastUsedIp: null,
        revokedAt: null,
      });
      return this.tokens.add(row, tx);
    });
    this.audit.annotate({
      action: 'token.create',
      targetId: token.id,
      after: { name: token.name, scopes: token.scopes, expiresAt: token.expiresAt?.toISOString() ?? null },
    });
    return { token, secret };
  }

  list(user: AuthUser, query: ApiTokenQueryDto): Promise<{ items: ApiToken[]; nextCursor: string | null }> {
    const owner = query.userId ?? user.id;
    if (owner !== user.id) this.assertActsAsAdmin(user);
    return this.tokens.pageOf(owner, query);
  }

  async get(user: AuthUser, id: string): Promise<ApiToken> {
    const token = await this.tokens.find(id);
    if (!token || !this.maySee(user, token)) throw AppException.notFound('API token');
    return token;
  }

  /** Revocation keeps the row (the audit trail); revoking a revoked token changes nothing. */
  async revoke(user: AuthUser, id: string): Promise<void> {
    const token = await this.get(user, id);
    if (token.revokedAt) return;
    const after = await this.tokens.revoke(id);
    // Every replica's guard drops its cached copy (by NOTIFY) before this answers.
    await this.access.changed(token.userId);
    this.audit.annotate({
      action: 'token.revoke',
      targetId: id,
      before: { name: token.name, revokedAt: null },
      after: { revokedAt: after?.revokedAt?.toISOString() ?? null },
    });
  }

  private maySee(user: AuthUser, token: ApiToken): boolean {
    return token.userId === user.id || this.actsAsAdmin(user);
  }

  /** An admin's session, or an admin's token with the `admin` scope. */
  private actsAsAdmin(user: AuthUser): boolean {
    return user.role === 'admin' && (user.via !== 'token' || (user.scopes ?? []).includes('admin'));
  }

  private assertActsAsAdmin(user: AuthUser): void {
    if (this.actsAsAdmin(user)) return;
    if (user.role === 'admin') throw insufficientScope("Another user's tokens need the admin scope");
    throw new AppException(HttpStatus.FORBIDDEN, ErrorCode.FORBIDDEN, "Only admins can see another user's tokens");
  }

  private expiryOf(dto: CreateApiTokenDto): Date | null {
    if (dto.expiresAt !== undefined && dto.expiresInDays !== undefined)
      throw invalid('expiresAt', 'Give expiresAt or expiresInDays, not both');
    if (dto.expiresInDays !== undefined) return new Date(Date.now() + dto.expiresInDays * DAY_MS);
    if (dto.expiresAt === undefined) return null;
    const at = new Date(dto.expiresAt);
    if (Number.isNaN(at.getTime())) throw invalid('expiresAt', 'expiresAt must be a valid date-time');
    if (at.getTime() <= Date.now()) throw invalid('expiresAt', 'expiresAt must be in the future');
    if (at.getTime() > Date.now() + MAX_EXPIRY_DAYS * DAY_MS)
      throw invalid('expiresAt', `expiresAt must be at most ${MAX_EXPIRY_DAYS} days ahead`);
    return at;
  }
}
