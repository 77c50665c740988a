import type { Request, Response } from 'express';
import { httpOnlyCookie, requestCookie } from '../auth/refresh-cookie';
import { OIDC_LOGIN_TTL_MS } from './oidc.service';

/**
 * The browser binding of a sign-in: /auth/oidc/login gives the browser a random value in this
 * cookie and stores its hash with the state, and the callback needs the same cookie back, so a
 * callback link forged from someone else's sign-in fails in a victim's browser (login CSRF).
 */
export const OIDC_BINDING_COOKIE = 'limen_oidc_binding';
/** Sent only to /auth/oidc/login and /auth/oidc/callback. */
export const OIDC_BINDING_COOKIE_PATH = '/api/v1/auth/oidc';

const ATTRIBUTES = `HttpOnly, SameSite=Lax, Path=${OIDC_BINDING_COOKIE_PATH}, Secure over TLS`;
/** The Set-Cookie of /auth/oidc/login, for the spec. */
export const OIDC_BINDING_SET_COOKIE = {
  'Set-Cookie': {
    description: `\`${OIDC_BINDING_COOKIE}\`: binds the sign-in to this browser (${ATTRIBUTES}, Max-Age=600); the callback needs it back.`,
    required: true,
    schema: { type: 'string' },
  },
};
/** What a completed callback's Set-Cookie does to it, for the spec. */
export const OIDC_BINDING_CLEARED = `Clears \`${OIDC_BINDING_COOKIE}\`.`;

/**
 * SameSite=Lax, not Strict: with the default OIDC_REDIRECT_URI the provider's redirect to the callback
 * is a cross-site top-level navigation, which Strict would send without the cookie.
 */
export function setOidcBinding(req: Request, res: Response, binding: string): void {
  res.cookie(OIDC_BINDING_COOKIE, binding, {
    ...httpOnlyCookie(req, OIDC_BINDING_COOKIE_PATH, 'lax'),
    maxAge: OIDC_LOGIN_TTL_MS,
  });
}

export function oidcBindingOf(req: Request): string | undefined {
  return requestCookie(req, OIDC_BINDING_COOKIE);
}

export function clearOidcBinding(req: Request, res: Response): void {
  res.clearCookie(OIDC_BINDING_COOKIE, httpOnlyCookie(req, OIDC_BINDING_COOKIE_PATH, 'lax'));
}
