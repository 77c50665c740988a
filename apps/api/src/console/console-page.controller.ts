import { Controller, Get, Header, Param, ParseUUIDPipe, Req, Res, VERSION_NEUTRAL } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { existsSync } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { Public } from '../auth/decorators';
import { AppException } from '../common/problem';
import { CONSOLE_PAGE_CSS, CONSOLE_PAGE_HTML, CONSOLE_PAGE_SCRIPT } from './console-page';

/** The browser libraries served from node_modules, and the only file types served from them. */
const LIBRARIES = { novnc: ['@novnc', 'novnc'], xterm: ['@xterm', 'xterm'] } as const;
const SERVED_EXTENSIONS = new Set(['.js', '.mjs', '.css']);
const ASSET_CACHE = 'public, max-age=3600';

/**
 * A package's folder under node_modules, found by walking up from this file,
 * because the webpack bundle rewrites require.resolve into a module id.
 */
function packageDir(segments: readonly string[]): string {
  const relative = join('node_modules', ...segments);
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, relative, 'package.json'))) return join(dir, relative);
    if (dirname(dir) === dir) throw new Error(`cannot find ${relative} above ${__dirname}`);
  }
}

/**
 * The browser console at /console/{vmId}, outside /api and public: the page
 * holds no data, it authenticates its own API call with the user's token.
 */
@ApiExcludeController()
@Public()
@Controller({ path: 'console', version: VERSION_NEUTRAL })
export class ConsolePageController {
  private readonly libraryDirs = new Map<string, string>();

  @Get('assets/console.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  script(): string {
    return CONSOLE_PAGE_SCRIPT;
  }

  @Get('assets/console.css')
  @Header('Content-Type', 'text/css; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  styles(): string {
    return CONSOLE_PAGE_CSS;
  }

  /** noVNC's and xterm.js's own files, e.g. /console/assets/novnc/core/rfb.js. */
  @Get('assets/:library/*path')
  library(@Param('library') library: string, @Req() req: Request, @Res() res: Response): void {
    const segments = LIBRARIES[library as keyof typeof LIBRARIES];
    const file = req.path.slice(`/console/assets/${library}/`.length);
    if (!segments || !SERVED_EXTENSIONS.has(extname(file))) throw AppException.notFound('File');
    const root = this.libraryDir(library, segments);
    const full = resolve(root, file);
    if (!full.startsWith(root + sep) || !existsSync(full)) throw AppException.notFound('File');
    // sendFile with `root` also refuses any path that would climb out of it.
    res.sendFile(file, { root, dotfiles: 'deny', headers: { 'Cache-Control': ASSET_CACHE } }, (error) => {
      if (error && !res.headersSent) res.status(404).end();
    });
  }

  @Get(':vmId')
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  page(@Param('vmId', ParseUUIDPipe) _vmId: string): string {
    return CONSOLE_PAGE_HTML;
  }

  private libraryDir(name: string, segments: readonly string[]): string {
    let dir = this.libraryDirs.get(name);
    if (!dir) this.libraryDirs.set(name, (dir = packageDir(segments)));
    return dir;
  }
}
