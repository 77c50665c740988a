import { Injectable } from '@nestjs/common';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import { Strategy } from 'passport-custom';
import { User } from '../users/user.entity';
import { OidcService, RequestMeta } from './oidc.service';

/** Where the strategy puts the signed-in account on the request (not `user`: that is the caller of a guarded route). */
export const OIDC_ACCOUNT = 'oidcAccount';

export function requestMeta(req: Request): RequestMeta {
  return {
    ip: req.ip ?? null,
    userAgent: req.headers['user-agent']?.slice(0, 512) ?? null,
    requestId: (req as { id?: unknown }).id === undefined ? null : String((req as { id?: unknown }).id),
  };
}

/**
 * The OIDC callback as a passport strategy. openid-client's own `openid-client/passport` Strategy keeps
 * the PKCE verifier, state and nonce in `req.session`, which needs express-session; LIMEN keeps no server
 * sessions (any replica may get the callback), so this passport-custom strategy wraps openid-client's
 * functional API instead and the state lives in the oidc_login_states table.
 */
@Injectable()
export class OidcStrategy extends PassportStrategy(Strategy, 'oidc') {
  constructor(private readonly oidc: OidcService) {
    super();
  }

  validate(req: Request): Promise<User> {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(req.query)) {
      if (typeof value === 'string') query.append(name, value);
    }
    return this.oidc.complete(query, requestMeta(req));
  }
}

/** Runs OidcStrategy; its problems (401, 403, 503) reach the client as they are. */
@Injectable()
export class OidcCallbackGuard extends AuthGuard('oidc') {
  override getAuthenticateOptions() {
    return { session: false, property: OIDC_ACCOUNT };
  }
}
