import { ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerModuleOptions } from '@nestjs/throttler';
import type { ThrottlerLimitDetail, ThrottlerStorage } from '@nestjs/throttler';
import type { Request, Response } from 'express';
import { AppConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { AuthUser, IS_AUTH_ROUTE } from './decorators';

const MINUTE_MS = 60_000;

function isAuthRoute(context: ExecutionContext): boolean {
  return Boolean(
    Reflect.getMetadata(IS_AUTH_ROUTE, context.getHandler()) ?? Reflect.getMetadata(IS_AUTH_ROUTE, context.getClass()),
  );
}

function bodyUsername(context: ExecutionContext): string | undefined {
  const body = context.switchToHttp().getRequest<Request>().body as { username?: unknown } | undefined;
  return typeof body?.username === 'string' ? body.username.toLowerCase().slice(0, 64) : undefined;
}

/**
 * Three fixed-window limits per minute:
 * - `auth-ip`: credential routes, per client IP;
 * - `auth-user`: credential routes, per username in the body (slows a spray from many IPs);
 * - `api-user`: every other /api route, per authenticated user.
 * Counted in `storage`: per replica or shared by all of them (LimitsModule, LIMITS_STORE).
 */
export function rateLimitOptions(config: AppConfig, storage: ThrottlerStorage): ThrottlerModuleOptions {
  return {
    storage,
    generateKey: (_context, tracker, name) => `${name}:${tracker}`,
    throttlers: [
      {
        name: 'auth-ip',
        ttl: MINUTE_MS,
        limit: config.authRateLimitPerMinute,
        skipIf: (context) => !isAuthRoute(context),
        getTracker: (req) => (req as Request).ip ?? 'unknown',
      },
      {
        name: 'auth-user',
        ttl: MINUTE_MS,
        limit: config.authRateLimitPerMinute,
        skipIf: (context) => !isAuthRoute(context) || bodyUsername(context) === undefined,
        getTracker: (_req, context) => bodyUsername(context) ?? '',
      },
      {
        name: 'api-user',
        ttl: MINUTE_MS,
        limit: config.rateLimitPerMinute,
        skipIf: (context) =>
          isAuthRoute(context) || !context.switchToHttp().getRequest<Request>().originalUrl.startsWith('/api/'),
        getTracker: (req) => (req as { user?: AuthUser }).user?.id ?? (req as Request).ip ?? 'unknown',
      },
    ],
  };
}

/** ThrottlerGuard that answers with our problem+json and a plain Retry-After header. */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  protected override async throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const retryAfter = String(Math.max(1, Math.ceil(detail.timeToBlockExpire)));
    context.switchToHttp().getResponse<Response>().setHeader('Retry-After', retryAfter);
    throw new AppException(
      HttpStatus.TOO_MANY_REQUESTS,
      ErrorCode.RATE_LIMITED,
      `Too many requests; retry in ${retryAfter} s`,
      {},
      { 'Retry-After': retryAfter },
    );
  }
}
