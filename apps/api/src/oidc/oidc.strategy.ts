import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { Request, Response } from 'express';
import { Authenticator } from 'passport';
import { Strategy } from 'passport-custom';
import { User } from '../users/user.entity';
import { oidcBindingOf } from './oidc-binding-cookie';
import { oidcLoginFailed } from './oidc-client';
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
 * functional API instead and the state lives in the oidc_login_states table, bound to the browser by
 * a cookie (oidc-binding-cookie.ts).
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
    return this.oidc.complete(query, oidcBindingOf(req), requestMeta(req));
  }
}

/**
 * Runs OidcStrategy on this app's own passport Authenticator (as AuthenticationGuard does), not the
 * process-wide one @nestjs/passport's AuthGuard uses: two apps in one process keep their own
 * strategy. Its problems (401, 403, 503) reach the client as they are.
 */
@Injectable()
export class OidcCallbackGuard implements CanActivate {
  private readonly passport = new Authenticator();

  constructor(strategy: OidcStrategy) {
    this.passport.use('oidc', strategy);
  }

  canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<Request & { [OIDC_ACCOUNT]?: User }>();
    const res = context.switchToHttp().getResponse<Response>();
    return new Promise<boolean>((resolve, reject) =>
      this.passport.authenticate('oidc', { session: false }, (error: unknown, user: User | false) => {
        if (error) return reject(error);
        if (!user) return reject(oidcLoginFailed());
        req[OIDC_ACCOUNT] = user;
        resolve(true);
      })(req, res, reject),
    );
  }
}
