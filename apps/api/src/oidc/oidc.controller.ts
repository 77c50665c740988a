import { Controller, Get, Redirect, Req, UseGuards } from '@nestjs/common';
import { ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { AuthRoute, Public } from '../auth/decorators';
import { TokenPairDto } from '../auth/dto/token-pair.dto';
import { ApiProblems } from '../common/api-problems.decorator';
import { User } from '../users/user.entity';
import { OidcStatusDto } from './dto/oidc-status.dto';
import { OidcService } from './oidc.service';
import { OIDC_ACCOUNT, OidcCallbackGuard, requestMeta } from './oidc.strategy';

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

  /** Start an OIDC sign-in: redirects the browser to the provider (authorization code with PKCE S256, a state and a nonce, good for 10 minutes). */
  @Get('login')
  @Public()
  @AuthRoute()
  @Redirect()
  @ApiResponse({
    status: 302,
    description: "To the provider's authorization endpoint",
    headers: {
      Location: { description: 'The authorization request', required: true, schema: { type: 'string', format: 'uri' } },
    },
  })
  @ApiProblems(404, 503)
  async login(): Promise<{ url: string; statusCode: number }> {
    return { url: (await this.oidc.start()).href, statusCode: 302 };
  }

  /** Where the provider sends the browser back: exchanges the code, and signs in the account linked to the provider's issuer and subject (created on the first sign-in under REGISTRATION). */
  @Get('callback')
  @Public()
  @AuthRoute()
  @UseGuards(OidcCallbackGuard)
  @ApiQuery({ name: 'code', required: false, type: String, description: 'The authorization code' })
  @ApiQuery({ name: 'state', required: false, type: String, description: 'The state /auth/oidc/login sent' })
  @ApiQuery({ name: 'iss', required: false, type: String, description: "The provider's issuer (RFC 9207)" })
  @ApiProblems(401, 403, 404, 503)
  callback(@Req() req: Request & { [OIDC_ACCOUNT]: User }): Promise<TokenPairDto> {
    return this.oidc.signIn(req[OIDC_ACCOUNT], requestMeta(req));
  }
}
