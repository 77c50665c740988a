import { HttpStatus, Injectable } from '@nestjs/common';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
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

/** A started sign-in (its state, and the browser's binding cookie) is good for this long. */
export const OIDC_LOGIN_TTL_MS = 10 * 60 * 1000;

/** Where a request came from, for the audit records a GET does not get from the interceptor. */
export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

/** A sign-in started: where to send the browser, and the binding to give it as a cookie. */
export interface StartedOidcLogin {
  url: URL;
  binding: string;
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Both are SHA-256 hex digests, so the buffers always have the same length. */
function sameHash(a: string, b: string): boolean {
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}

/**
 * OIDC sign-in, authorization code with PKCE: `start` stores the PKCE verifier, the nonce and the hash
 * of a random browser binding under the hash of a random state and sends the browser to the provider;
 * `complete` checks that the callback comes from the browser holding that binding, spends the state
 * once, has openid-client check everything, and resolves the account by (issuer, subject).
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

  async start(): Promise<StartedOidcLogin> {
    const checks = {
      state: client.randomState(),
      codeVerifier: client.randomPKCECodeVerifier(),
      nonce: client.randomNonce(),
    };
    const binding = randomBytes(32).toString('base64url');
    const url = await this.client.authorizationUrl(checks);
    const expiresAt = new Date(Date.now() + OIDC_LOGIN_TTL_MS);
    await this.states.add(sha256(checks.state), checks, sha256(binding), expiresAt);
    return { url, binding };
  }

  /**
   * The signed-in account, or a problem (recorded as a failed auth.oidc-login); nothing is created on a refusal.
   * `binding`: the cookie the browser presents. A missing or foreign one is refused before the state is
   * spent, so a forged callback neither signs anyone in nor uses up the real browser's sign-in.
   */
  async complete(query: URLSearchParams, binding: string | undefined, meta: RequestMeta): Promise<User> {
    let claims: OidcClaims | undefined;
    try {
      await this.client.ready();
      const state = query.get('state');
      if (!state || !binding) throw oidcLoginFailed();
      const stateHash = sha256(state);
      const bindingHash = await this.states.bindingHashOf(stateHash);
      if (!bindingHash || !sameHash(bindingHash, sha256(binding))) throw oidcLoginFailed();
      const stored = await this.states.take(stateHash);
      if (!stored) throw oidcLoginFailed();
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
