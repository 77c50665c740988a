import { HttpStatus, Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import { AuditService } from '../audit/audit.service';
import { TokenPairDto } from '../auth/dto/token-pair.dto';
import { TokenService } from '../auth/token.service';
import { AppException } from '../common/problem';
import { User } from '../users/user.entity';
import { OidcAccounts } from './oidc-accounts';
import { OidcClaims, OidcClient, oidcLoginFailed } from './oidc-client';
import { OidcLoginStateRepository } from './oidc-login-state.repository';
import { OidcStatusDto } from './dto/oidc-status.dto';

/** A started sign-in is good for this long. */
const STATE_TTL_MS = 10 * 60 * 1000;

/** Where a request came from, for the audit records a GET does not get from the interceptor. */
export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/**
 * OIDC sign-in, authorization code with PKCE: `start` stores the PKCE verifier and nonce under the
 * hash of a random state and sends the browser to the provider; `complete` spends the state once,
 * has openid-client check everything, and resolves the account by (issuer, subject).
 */
@Injectable()
export class OidcService {
  constructor(
    private readonly client: OidcClient,
    private readonly states: OidcLoginStateRepository,
    private readonly accounts: OidcAccounts,
    private readonly tokens: TokenService,
    private readonly audit: AuditService,
  ) {}

  status(): OidcStatusDto {
    const settings = this.client.settings;
    return settings ? { enabled: true, issuer: settings.issuer } : { enabled: false };
  }

  async start(): Promise<URL> {
    const checks = {
      state: client.randomState(),
      codeVerifier: client.randomPKCECodeVerifier(),
      nonce: client.randomNonce(),
    };
    const url = await this.client.authorizationUrl(checks);
    await this.states.add(sha256(checks.state), checks, new Date(Date.now() + STATE_TTL_MS));
    return url;
  }

  /** The signed-in account, or a problem (recorded as a failed auth.oidc-login); nothing is created on a refusal. */
  async complete(query: URLSearchParams, meta: RequestMeta): Promise<User> {
    let claims: OidcClaims | undefined;
    try {
      await this.client.ready();
      const state = query.get('state');
      const stored = state ? await this.states.take(sha256(state)) : null;
      if (!state || !stored) throw oidcLoginFailed();
      claims = await this.client.exchange(query, { state, ...stored });
      const account = await this.accounts.resolve(claims);
      if (account.created) this.recordCreation(account.user, claims.iss, meta);
      return (await this.accounts.admit(account, claims)).user;
    } catch (error) {
      const status = error instanceof AppException ? error.getStatus() : HttpStatus.INTERNAL_SERVER_ERROR;
      this.record(meta, {
        action: 'auth.oidc-login',
        result: 'failure',
        statusCode: status,
        errorCode: error instanceof AppException ? error.code : 'INTERNAL_ERROR',
        details: claims ? { issuer: claims.iss, subject: claims.sub } : null,
      });
      throw error;
    }
  }

  async signIn(user: User, meta: RequestMeta): Promise<TokenPairDto> {
    const pair = await this.tokens.issuePair(user, { ip: meta.ip, userAgent: meta.userAgent });
    this.record(meta, {
      action: 'auth.oidc-login',
      result: 'success',
      statusCode: HttpStatus.OK,
      actorId: user.id,
      actorUsername: user.username,
      targetId: user.id,
      after: { role: user.role },
    });
    return pair;
  }

  private recordCreation(user: User, issuer: string, meta: RequestMeta): void {
    this.record(meta, {
      action: 'auth.oidc-register',
      result: 'success',
      actorId: user.id,
      actorUsername: user.username,
      targetId: user.id,
      after: { username: user.username, role: user.role, status: user.status, issuer },
    });
  }

  private record(
    meta: RequestMeta,
    entry: Pick<Parameters<AuditService['record']>[0], 'action' | 'result'> &
      Partial<Parameters<AuditService['record']>[0]>,
  ): void {
    void this.audit.record({
      actorId: null,
      actorUsername: null,
      targetType: 'users',
      targetId: null,
      statusCode: null,
      errorCode: null,
      before: null,
      after: null,
      details: null,
      ...meta,
      ...entry,
    });
  }
}
