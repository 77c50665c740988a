import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { AppException } from '../common/problem';
import { Transactions } from '../database/transaction';
import { lockoutClient } from '../users/login-lockout';
import { PasswordHasher } from '../users/password-hasher';
import { UserAccessCache } from '../users/user-access-cache';
import { UserRepository } from '../users/user.repository';
import { CredentialChecks } from '../users/credential-checks';
import { ChangePasswordDto, SessionDto } from './dto/account.dto';
import { TokenPairDto } from './dto/token-pair.dto';
import { revokedToken } from './auth-errors';
import { RefreshTokenRepository } from './refresh-token.repository';
import { SessionRevocations } from './session-revocations';
import { ClientOrigin, TokenService } from './token.service';

/** What a signed-in user does to their own account: a new password, their sessions. */
@Injectable()
export class AccountService {
  constructor(
    private readonly users: UserRepository,
    private readonly refreshTokens: RefreshTokenRepository,
    private readonly tokens: TokenService,
    private readonly checks: CredentialChecks,
    private readonly hasher: PasswordHasher,
    private readonly transactions: Transactions,
    private readonly access: UserAccessCache,
    private readonly audit: AuditService,
    private readonly revocations: SessionRevocations,
  ) {}

  /**
   * The current password first (a wrong one counts in the login lock-out, like a failed sign-in).
   * Then, in one transaction, the new hash, the token version bumped (every access token issued
   * so far is refused on its next request, on every replica) and every refresh token revoked;
   * the caller continues in a fresh session, the only one left.
   */
  async changePassword(userId: string, dto: ChangePasswordDto, origin: ClientOrigin): Promise<TokenPairDto> {
    const me = await this.users.find(userId);
    if (!me) throw revokedToken();
    const client = lockoutClient(origin.ip ?? undefined);
    await this.checks.verifyPassword(me.username, dto.currentPassword, client);
    const passwordHash = await this.hasher.hash(dto.newPassword);
    const user = await this.transactions.run(async (tx) => {
      const current = await this.users.find(userId, tx, { lock: true });
      if (!current) throw revokedToken();
      const after = await this.users.update(tx, userId, { passwordHash, tokenVersion: current.tokenVersion + 1 });
      await this.refreshTokens.revokeAllOf(userId, tx);
      return after;
    });
    await this.access.changed(userId);
    await this.checks.clear(me.username, client);
    this.audit.annotate({ action: 'auth.password-change', targetId: userId, after: { passwordChanged: true } });
    return this.tokens.issuePair(user, origin);
  }

  /** The caller's live sessions; `current` marks the one whose access token `currentTokenId` names. */
  async sessions(userId: string, currentTokenId: string | undefined): Promise<SessionDto[]> {
    const sessions = await this.refreshTokens.liveSessionsOf(userId);
    const currentFamily = currentTokenId ? await this.refreshTokens.familyOf(currentTokenId) : null;
    return sessions.map((session) => ({
      id: session.familyId,
      createdAt: session.createdAt.toISOString(),
      lastUsedAt: session.lastUsedAt.toISOString(),
      createdIp: session.createdIp,
      userAgent: session.userAgent,
      current: session.familyId === currentFamily,
    }));
  }

  /**
   * Ends one of the caller's sessions: its refresh token and its access tokens stop working at once
   * (on other replicas, once the NOTIFY arrives). Another user's session, or one already over, is 404.
   */
  async revokeSession(userId: string, sessionId: string): Promise<void> {
    if (!(await this.refreshTokens.revokeLiveFamilyOf(userId, sessionId))) throw AppException.notFound('Session');
    this.revocations.ended(sessionId);
    this.audit.annotate({ action: 'auth.session-revoke', targetId: sessionId });
  }
}
