import {
  applyDecorators,
  CallHandler,
  ExecutionContext,
  HttpStatus,
  Injectable,
  NestInterceptor,
  SetMetadata,
  Type,
  UseInterceptors,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiHeader, ApiResponse } from '@nestjs/swagger';
import { parse } from 'cookie';
import type { CookieOptions, Request, Response } from 'express';
import { from, map, Observable, of, switchMap, tap } from 'rxjs';
import { AppException, ErrorCode } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { TokenService } from './token.service';

/**
 * Browser sessions (issue 18): with `X-Limen-Session: cookie` the refresh token travels in an
 * HttpOnly cookie instead of the JSON body, so no script on the page can read it. The header is
 * the CSRF guard: a cross-site form cannot send it and a cross-site fetch with it needs a CORS
 * preflight, so the cookie is only ever read when the header is there (SameSite=Strict too).
 * API clients that do not send the header keep the JSON-body flow unchanged.
 */
export const SESSION_HEADER = 'X-Limen-Session';
export const REFRESH_COOKIE = 'limen_refresh';
/** Sent only to the auth routes: no other route ever sees the refresh token. */
export const REFRESH_COOKIE_PATH = '/api/v1/auth';

/** issue: the route answers a new pair; rotate: it reads the cookie and answers a new pair; end: it reads and clears it. */
export type RefreshCookieMode = 'issue' | 'rotate' | 'end';
const MODE = 'limen:refresh-cookie';

const REFRESH_SET_COOKIE = `With \`${SESSION_HEADER}: cookie\`: the refresh token as \`${REFRESH_COOKIE}\` (HttpOnly, SameSite=Strict, Path=${REFRESH_COOKIE_PATH}, Secure over TLS); cleared when the session ends.`;

/**
 * The answer's Set-Cookie in the spec. `alwaysSets`: a cookie the route sets besides the refresh
 * cookie, in every such answer (the spec has one Set-Cookie entry per answer, so both share it).
 */
function setCookieHeader(alwaysSets?: string) {
  return {
    'Set-Cookie': {
      description: alwaysSets ? `${alwaysSets} ${REFRESH_SET_COOKIE}` : REFRESH_SET_COOKIE,
      required: alwaysSets !== undefined,
      schema: { type: 'string' },
    },
  };
}

/** Applies the cookie transport to an auth route and declares it in the spec. */
export function RefreshCookie(
  mode: RefreshCookieMode,
  status: number,
  type?: Type<unknown>,
  alwaysSets?: string,
): MethodDecorator {
  return applyDecorators(
    SetMetadata(MODE, mode),
    UseInterceptors(RefreshCookieInterceptor),
    ApiHeader({
      name: SESSION_HEADER,
      required: false,
      enum: ['cookie'],
      description:
        mode === 'issue'
          ? 'For browsers: put the refresh token in an HttpOnly cookie instead of the body.'
          : `For browsers: read the refresh token from the \`${REFRESH_COOKIE}\` cookie (then the body needs none); required for the cookie to count.`,
    }),
    ApiResponse({ status, ...(type ? { type } : {}), headers: setCookieHeader(alwaysSets) }),
  );
}

/**
 * The attributes LIMEN's cookies share: HttpOnly, one path, and Secure whenever `req.secure` (TLS
 * here, or X-Forwarded-Proto: https from a proxy TRUST_PROXY trusts), so the flag follows how the
 * browser really reached the api.
 */
export function httpOnlyCookie(req: Request, path: string, sameSite: 'strict' | 'lax'): CookieOptions {
  return { httpOnly: true, sameSite, secure: req.secure, path };
}

/** The value of one cookie the request carries. */
export function requestCookie(req: Request, name: string): string | undefined {
  return parse(req.headers.cookie ?? '')[name];
}

@Injectable()
export class RefreshCookieInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly config: AppConfig,
    private readonly tokens: TokenService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const mode = this.reflector.get<RefreshCookieMode | undefined>(MODE, context.getHandler());
    const http = context.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    // Without the header the cookie is ignored: that is what refuses a cross-site request.
    if (!mode || req.headers[SESSION_HEADER.toLowerCase()] !== 'cookie') return next.handle();

    if (mode === 'issue') return next.handle().pipe(map((body) => this.moveIntoCookie(req, res, body)));

    const presented = requestCookie(req, REFRESH_COOKIE);
    if (mode === 'end') {
      this.clear(req, res);
      if (!presented) return of(undefined);
      // Signing out of the browser ends the whole session, not only the token it holds now.
      return from(this.tokens.endSession(presented)).pipe(
        tap(() => (req.body = { ...(req.body as object), refreshToken: presented })),
        switchMap(() => next.handle()),
      );
    }
    if (!presented) {
      throw new AppException(HttpStatus.UNAUTHORIZED, ErrorCode.INVALID_REFRESH_TOKEN, 'No session cookie was sent');
    }
    // A refused cookie stays until sign-out or expiry: it grants nothing, and a problem answer declares no Set-Cookie.
    req.body = { ...(req.body as object), refreshToken: presented };
    return next.handle().pipe(map((body) => this.moveIntoCookie(req, res, body)));
  }

  private moveIntoCookie(req: Request, res: Response, body: unknown): unknown {
    if (!body || typeof body !== 'object' || typeof (body as { refreshToken?: unknown }).refreshToken !== 'string') {
      return body;
    }
    const { refreshToken, ...rest } = body as { refreshToken: string };
    res.cookie(REFRESH_COOKIE, refreshToken, {
      ...this.options(req),
      maxAge: this.config.refreshTokenTtlDays * 86_400_000,
    });
    return rest;
  }

  private clear(req: Request, res: Response): void {
    res.clearCookie(REFRESH_COOKIE, this.options(req));
  }

  private options(req: Request): CookieOptions {
    return httpOnlyCookie(req, REFRESH_COOKIE_PATH, 'strict');
  }
}
