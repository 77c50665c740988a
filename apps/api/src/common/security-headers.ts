import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';

/**
 * helmet's headers, with the two that only make sense over TLS sent only over TLS.
 * `Strict-Transport-Security` and CSP `upgrade-insecure-requests` tell a browser to
 * use https for this host (and for every sub-resource); on a page served over plain
 * HTTP through a LAN host name that has no TLS, /docs and /console/{id} then load
 * nothing and render blank. `req.secure` is true for a TLS socket, or, behind a
 * proxy that TRUST_PROXY trusts, when it says `X-Forwarded-Proto: https`.
 */
export function securityHeaders(): (req: Request, res: Response, next: NextFunction) => void {
  const overTls = helmet();
  const overPlainHttp = helmet({
    strictTransportSecurity: false,
    contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
  });
  return (req, res, next) => (req.secure ? overTls : overPlainHttp)(req, res, next);
}
