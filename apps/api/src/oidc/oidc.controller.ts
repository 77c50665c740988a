import { Controller, Get, Req, Res, UseGuards } from '@nestjs/common';
import { ApiOkResponse, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { AuthRoute, Public } from '../auth/decorators';
import { TokenPairDto } from '../auth/dto/token-pair.dto';
import { RefreshCookie } from '../auth/refresh-cookie';
import { ApiProblems, problemResponse } from '../common/api-problems.decorator';
import { User } from '../users/user.entity';
import { OidcLoginDto, OidcStatusDto } from './dto/oidc-status.dto';
import { clearOidcBinding, OIDC_BINDING_CLEARED, OIDC_BINDING_SET_COOKIE, setOidcBinding } from './oidc-binding-cookie';
import { OidcService } from './oidc.service';
import { OIDC_ACCOUNT, OidcCallbackGuard, requestMeta } from './oidc.strategy';

const NOT_CONFIGURED = 'OIDC_NOT_CONFIGURED: OIDC_ISSUER is unset';
const PROVIDER_DOWN = 'SERVICE_UNAVAILABLE: the OpenID provider could not be reached; retry shortly';

@ApiTags('auth')
@ApiProblems(429)
@Controller({ path: 'auth/oidc', version: '1' })
export class OidcController {
  constructor(private readonly oidc: OidcService) {}

  /** Whether single sign-on through an OpenID provider is configured, and which. */
  @Get()
  @Public()
  status(): OidcStatusDto {
    return this.oidc.status();
  }

  /** Start an OIDC sign-in: redirects the browser (or answers the URL as JSON) to the provider (authorization code with PKCE S256, a state and a nonce, good for 10 minutes), and binds it to this browser with a cookie the callback needs back. */
  @Get('login')
  @Public()
  @AuthRoute()
  @ApiResponse({
    status: 302,
    description: "To the provider's authorization endpoint (no body): what a browser gets",
    headers: {
      Location: { description: 'The authorization request', required: true, schema: { type: 'string', format: 'uri' } },
      ...OIDC_BINDING_SET_COOKIE,
    },
  })
  @ApiOkResponse({
    type: OidcLoginDto,
    headers: OIDC_BINDING_SET_COOKIE,
    description:
      'With `Accept: application/json` (and not text/html): the same URL as JSON, for a page that calls fetch (which cannot read a redirect) and then navigates to it',
  })
  @ApiResponse({ status: 404, ...problemResponse(404, NOT_CONFIGURED) })
  @ApiResponse({ status: 503, ...problemResponse(503, PROVIDER_DOWN) })
  async login(@Req() req: Request, @Res() res: Response): Promise<void> {
    const started = await this.oidc.start();
    setOidcBinding(req, res, started.binding);
    const url = started.url.href;
    if (req.accepts(['text/html', 'application/json']) === 'application/json') {
      res.status(200).json({ authorizationUrl: url } satisfies OidcLoginDto);
      return;
    }
    res.status(302).location(url).end();
  }

  /** Where the provider sends the browser back, in the browser that started the sign-in (its binding cookie): exchanges the code, and signs in the account linked to the provider's issuer and subject (created on the first sign-in under REGISTRATION). */
  @Get('callback')
  @Public()
  @AuthRoute()
  @UseGuards(OidcCallbackGuard)
  @RefreshCookie('issue', 200, TokenPairDto, OIDC_BINDING_CLEARED)
  @ApiQuery({ name: 'code', required: false, type: String, description: 'The authorization code' })
  @ApiQuery({ name: 'state', required: false, type: String, description: 'The state /auth/oidc/login sent' })
  @ApiQuery({ name: 'iss', required: false, type: String, description: "The provider's issuer (RFC 9207)" })
  @ApiResponse({
    status: 401,
    ...problemResponse(
      401,
      'OIDC_LOGIN_FAILED: an unknown, spent or expired state, no or another browser’s binding cookie, a refused code, a foreign issuer',
    ),
  })
  @ApiResponse({
    status: 403,
    ...problemResponse(403, 'REGISTRATION_CLOSED (a first sign-in), ACCOUNT_PENDING or ACCOUNT_DISABLED'),
  })
  @ApiResponse({ status: 404, ...problemResponse(404, NOT_CONFIGURED) })
  @ApiResponse({ status: 503, ...problemResponse(503, PROVIDER_DOWN) })
  callback(
    @Req() req: Request & { [OIDC_ACCOUNT]: User },
    @Res({ passthrough: true }) res: Response,
  ): Promise<TokenPairDto> {
    // Its state is spent: the binding is worth nothing now. A refused callback leaves it to expire, so
    // a forged one cannot clear the real sign-in's cookie, and a 503's retry still works.
    clearOidcBinding(req, res);
    return this.oidc.signIn(req[OIDC_ACCOUNT], requestMeta(req));
  }
}
