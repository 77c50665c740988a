import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { Authenticator } from 'passport';
import { ApiTokenStrategy } from './api-token.strategy';
import { unauthenticated } from './auth-errors';
import { AuthUser, IS_PUBLIC } from './decorators';
import { JwtStrategy } from './jwt.strategy';

/** Tried in this order; each passes over a credential that is not its kind. */
const STRATEGIES = ['jwt', 'api-token'];
const OPTIONS = { session: false };

/**
 * Global guard: every route needs a valid bearer credential unless marked @Public(): a session's
 * access token (JwtStrategy) or a personal API token (ApiTokenStrategy), both @nestjs/passport
 * strategies. They run on this app's own passport Authenticator rather than the process-wide
 * one @nestjs/passport's AuthGuard uses, so two apps in one process (the replica e2e suites)
 * each authenticate with their own caches. A strategy's own refusal (revoked, expired) is the
 * answer; when neither recognises the credential the answer is 401 with `WWW-Authenticate: Bearer`.
 */
@Injectable()
export class AuthenticationGuard implements CanActivate {
  private readonly passport = new Authenticator();

  constructor(
    private readonly reflector: Reflector,
    jwt: JwtStrategy,
    apiToken: ApiTokenStrategy,
  ) {
    this.passport.use('jwt', jwt);
    this.passport.use('api-token', apiToken);
  }

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const http = context.switchToHttp();
    const req = http.getRequest<Request & { user?: AuthUser }>();
    const res = http.getResponse<Response>();
    return new Promise<boolean>((resolve, reject) =>
      this.passport.authenticate(STRATEGIES, OPTIONS, (error: unknown, user: AuthUser | false) => {
        if (error) return reject(error);
        if (!user) return reject(unauthenticated());
        req.user = user;
        resolve(true);
      })(req, res, reject),
    );
  }
}
