import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import type { ClientOrigin } from './token.service';

const BEARER = /^\s*Bearer\s+(\S+)\s*$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The `jti` of the access token the request carries: the id of the refresh token issued with it
 * (TokenService), which names the caller's session. The guard has verified the token already;
 * undefined when the credential is not an access JWT (an API token).
 */
export const CurrentSessionTokenId = createParamDecorator(
  (_data: unknown, context: ExecutionContext): string | undefined => {
    const header = context.switchToHttp().getRequest<Request>().headers.authorization;
    const payload = BEARER.exec(header ?? '')?.[1].split('.')[1];
    if (!payload) return undefined;
    try {
      const jti = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { jti?: unknown }).jti;
      return typeof jti === 'string' && UUID.test(jti) ? jti : undefined;
    } catch {
      return undefined;
    }
  },
);

/** Where the request comes from, kept with a session it starts (GET /auth/sessions). */
export const RequestOrigin = createParamDecorator((_data: unknown, context: ExecutionContext): ClientOrigin => {
  const req = context.switchToHttp().getRequest<Request>();
  return { ip: req.ip ?? null, userAgent: req.headers['user-agent'] ?? null };
});
