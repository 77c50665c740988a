import type { NextFunction, Request, Response } from 'express';
import { existsSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';

/** Paths the dashboard never answers: the api's own, so an unknown one stays a problem+json 404. */
const API_PATHS = /^\/(api|metrics|health|console|agent|docs)(\/|-|$)/;
/** Vite names every file under assets/ by its content hash, so a cached copy never goes stale. */
const IMMUTABLE = { maxAge: 365 * 24 * 3600 * 1000, immutable: true };

/**
 * The dashboard's build (apps/web, `npm run build` writes dist/web), found by walking up from this
 * file: dist/apps/api/main.js in production, apps/api/src/web under the e2e tests.
 */
export function findWebBuild(from = __dirname): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'dist', 'web');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Serves the single-page dashboard at /: hashed assets for a year, index.html revalidated on every
 * load (no-cache), and index.html for any other extension-less path so client routes survive a
 * reload. Everything else falls through to the api's 404. The security headers (CSP without
 * inline scripts) come from securityHeaders(), like every other response.
 */
export function dashboard(webDir: string | undefined) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!webDir || (req.method !== 'GET' && req.method !== 'HEAD') || API_PATHS.test(req.path)) return next();
    const fallThrough = (error?: Error) => error && !res.headersSent && next();
    if (req.path.startsWith('/assets/')) {
      res.sendFile(req.path.slice(1), { root: webDir, dotfiles: 'deny', ...IMMUTABLE }, fallThrough);
      return;
    }
    const file = extname(req.path) ? req.path.slice(1) : 'index.html';
    res.sendFile(
      file,
      { root: webDir, dotfiles: 'deny', cacheControl: false, headers: { 'Cache-Control': 'no-cache' } },
      fallThrough,
    );
  };
}
