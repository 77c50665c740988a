import { HttpStatus, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { createHash, createHmac, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import { AuditService } from '../audit/audit.service';
import { AppConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { Transactions, Tx } from '../database/transaction';
import { User } from '../users/user.entity';
import { UserRepository } from '../users/user.repository';
import { TokenPairDto } from './dto/token-pair.dto';
import { RefreshToken } from './refresh-token.entity';
import { RefreshTokenRepository } from './refresh-token.repository';
import { SessionRevocations } from './session-revocations';

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** A refresh token in plain (only ever handed to its client) and its row. */
interface IssuedRefreshToken {
  token: string;
  row: RefreshToken;
}

/** Where a sign-in came from, kept with its session (GET /auth/sessions). */
export interface ClientOrigin {
  ip?: string | null;
  userAgent?: string | null;
}

type RotationOutcome =
  | { kind: 'rotated'; user: User; refresh: IssuedRefreshToken }
  | { kind: 'reused'; userId: string; sessionId: string }
  | { kind: 'invalid' };

/**
 * Issues access tokens (15-minute HS256 JWTs) and opaque, single-use refresh
 * tokens that are stored only as SHA-256 hashes and rotated on every use.
 *
 * A login's first refresh token is random; each successor is HMAC(key, predecessor), with a
 * key derived from JWT_SECRET. So the server can hand the same successor out again when two
 * tabs present one token at once (the reuse grace), without keeping any token in plain: the
 * database holds hashes only, and without JWT_SECRET no successor can be computed.
 */
@Injectable()
export class TokenService {
  private readonly successorKey: Buffer;

  constructor(
    private readonly jwt: JwtService,
    private readonly config: AppConfig,
    private readonly refreshTokens: RefreshTokenRepository,
    private readonly users: UserRepository,
    private readonly transactions: Transactions,
    private readonly audit: AuditService,
    private readonly sessions: SessionRevocations,
  ) {
    this.successorKey = Buffer.from(hkdfSync('sha256', config.jwtSecret, 'limen-refresh-tokens', 'successor', 32));
  }

  /** A new session (refresh-token family) and its first pair. */
  async issuePair(user: User, origin: ClientOrigin = {}): Promise<TokenPairDto> {
    return (await this.startSession(user, origin)).pair;
  }

  /** Like issuePair, with the new session's id (its family) too. */
  async startSession(user: User, origin: ClientOrigin = {}): Promise<{ pair: TokenPairDto; sessionId: string }> {
    const refresh = await this.storeRefreshToken(
      undefined,
      user.id,
      randomUUID(),
      randomBytes(32).toString('base64url'),
      {
        createdIp: origin.ip?.slice(0, 64) ?? null,
        userAgent: origin.userAgent?.slice(0, 512) ?? null,
      },
    );
    return { pair: this.pair(user, refresh), sessionId: refresh.row.familyId };
  }

  /**
   * Exchanges a refresh token for a new pair. Presenting a token that was already rotated
   * means it leaked, and the whole family is revoked; except within the reuse grace after
   * its rotation, when it answers the very pair its rotation did (see `replayRotation`).
   */
  async rotate(presented: string): Promise<TokenPairDto> {
    const outcome = await this.transactions.run(async (tx): Promise<RotationOutcome> => {
      const current = await this.refreshTokens.findByHashForUpdate(tx, sha256(presented));
      if (!current) return { kind: 'invalid' };
      if (current.replacedById !== null) {
        const replayed = await this.replayRotation(tx, current, presented);
        if (replayed) return replayed;
        await this.refreshTokens.revokeFamily(tx, current.familyId);
        return { kind: 'reused', userId: current.userId, sessionId: current.familyId };
      }
      if (current.revokedAt !== null || current.expiresAt.getTime() <= Date.now()) return { kind: 'invalid' };
      const user = await this.users.find(current.userId, tx);
      if (!user || user.status !== 'active') return { kind: 'invalid' };
      const refresh = await this.storeRefreshToken(tx, user.id, current.familyId, this.successorOf(presented), {
        createdIp: current.createdIp,
        userAgent: current.userAgent,
      });
      await this.refreshTokens.markReplaced(tx, current.id, refresh.row.id);
      return { kind: 'rotated', user, refresh };
    });
    if (outcome.kind === 'reused') {
      // A leaked token: the session's access tokens, whoever holds them, stop working too.
      this.sessions.ended(outcome.sessionId);
      this.audit.annotate({ action: 'auth.refresh-reuse-detected', targetId: outcome.userId });
      throw new AppException(
        HttpStatus.UNAUTHORIZED,
        ErrorCode.REFRESH_TOKEN_REUSED,
        'This refresh token was already used; its session has been revoked',
      );
    }
    if (outcome.kind === 'invalid') {
      throw new AppException(
        HttpStatus.UNAUTHORIZED,
        ErrorCode.INVALID_REFRESH_TOKEN,
        'The refresh token is invalid, expired or revoked',
      );
    }
    return this.pair(outcome.user, outcome.refresh);
  }

  /**
   * Revokes one refresh token; when it was its session's live token, the session's access tokens
   * stop working too. Unknown tokens are ignored, so logout never reveals validity.
   */
  async revoke(presented: string): Promise<void> {
    this.sessions.ended(await this.refreshTokens.revokeByHash(sha256(presented)));
  }

  /** Ends the whole session the token belongs to, whichever of its tokens it is (a browser's sign-out). */
  async endSession(presented: string): Promise<void> {
    this.sessions.ended(await this.refreshTokens.revokeFamilyByHash(sha256(presented)));
  }

  /**
   * The second of two concurrent refreshes with one token (two tabs) finds it rotated a moment
   * ago. Within REFRESH_REUSE_GRACE_SECONDS of that rotation, and while the successor is itself
   * unspent and live, it gets the same pair back. Anything else is reuse. A rotated token's
   * `revokedAt` is the moment of its rotation.
   */
  private async replayRotation(tx: Tx, rotated: RefreshToken, presented: string): Promise<RotationOutcome | undefined> {
    const graceMs = this.config.refreshReuseGraceSeconds * 1000;
    if (rotated.revokedAt === null || rotated.revokedAt.getTime() + graceMs <= Date.now()) return undefined;
    const successor = await this.refreshTokens.findForUpdate(tx, rotated.replacedById!);
    const token = this.successorOf(presented);
    // A successor derived under another JWT_SECRET (rotated in between) does not match: reuse.
    if (
      !successor ||
      successor.tokenHash !== sha256(token) ||
      successor.replacedById !== null ||
      successor.revokedAt !== null
    )
      return undefined;
    if (successor.expiresAt.getTime() <= Date.now()) return undefined;
    const user = await this.users.find(successor.userId, tx);
    if (!user || user.status !== 'active') return { kind: 'invalid' };
    return { kind: 'rotated', user, refresh: { token, row: successor } };
  }

  /**
   * The access token's `jti` is the id of the refresh token issued with it, `sid` its session (the
   * family: revoking the session refuses the token), and its `iat` that token's creation: so a
   * replayed rotation answers the identical pair, byte for byte.
   */
  private pair(user: User, refresh: IssuedRefreshToken): TokenPairDto {
    const accessToken = this.jwt.sign(
      {
        sub: user.id,
        role: user.role,
        ver: user.tokenVersion,
        sid: refresh.row.familyId,
        iat: Math.floor(refresh.row.createdAt.getTime() / 1000),
      },
      { jwtid: refresh.row.id, expiresIn: this.config.accessTokenTtlSeconds, algorithm: 'HS256' },
    );
    return {
      accessToken,
      refreshToken: refresh.token,
      tokenType: 'Bearer',
      expiresIn: this.config.accessTokenTtlSeconds,
    };
  }

  private successorOf(token: string): string {
    return createHmac('sha256', this.successorKey).update(token).digest('base64url');
  }

  private async storeRefreshToken(
    tx: Tx | undefined,
    userId: string,
    familyId: string,
    token: string,
    origin: Pick<RefreshToken, 'createdIp' | 'userAgent'>,
  ): Promise<IssuedRefreshToken> {
    const expiresAt = new Date(Date.now() + this.config.refreshTokenTtlDays * 86_400_000);
    const row = await this.refreshTokens.add({ userId, familyId, tokenHash: sha256(token), expiresAt, ...origin }, tx);
    return { token, row };
  }
}
