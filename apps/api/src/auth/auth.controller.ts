import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { ApiProblems } from '../common/api-problems.decorator';
import { UserDto } from '../users/dto/user.dto';
import { AuthService } from './auth.service';
import { RequestOrigin } from './client-context';
import { AuthRoute, AuthUser, CurrentUser, Public } from './decorators';
import { LoginDto, RefreshTokenDto, RegisterDto, RegisteredDto } from './dto/auth-requests.dto';
import { TokenPairDto } from './dto/token-pair.dto';
import type { ClientOrigin } from './token.service';
import { ScopeResource } from './scopes';

@ApiTags('auth')
@ApiProblems(400, 429)
@ScopeResource('account')
@Controller({ path: 'auth', version: '1' })
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  /** Create an account. Under REGISTRATION=approval it stays `pending` until an admin approves it, and a taken name answers like a free one. */
  @Post('register')
  @Public()
  @AuthRoute()
  @ApiProblems(403, 409)
  @ApiBody({
    type: RegisterDto,
    examples: {
      newAccount: {
        summary: 'A new account',
        value: { username: 'bob', password: 'a long and unguessable passphrase' },
      },
    },
  })
  register(@Body() dto: RegisterDto): Promise<RegisteredDto> {
    return this.auth.register(dto);
  }

  /** Exchange a username and password for an access and a refresh token. */
  @Post('login')
  @HttpCode(200)
  @Public()
  @AuthRoute()
  @ApiProblems(401, 403)
  login(@Body() dto: LoginDto, @RequestOrigin() origin: ClientOrigin): Promise<TokenPairDto> {
    return this.auth.login(dto, origin);
  }

  /** Rotate a refresh token: it is spent, and a new pair is returned. Reusing a spent one revokes its whole session. */
  @Post('refresh')
  @HttpCode(200)
  @Public()
  @AuthRoute()
  @ApiProblems(401)
  @ApiBody({
    type: RefreshTokenDto,
    examples: {
      rotate: {
        summary: 'Rotate the refresh token of your sign-in',
        description:
          'Send the `refreshToken` your sign-in (or last rotation) returned; this one is a placeholder, refused as `INVALID_REFRESH_TOKEN`.',
        value: { refreshToken: 'm5Yk0n2q7X0y0QF8wq3mN1hQ2rU7o9t0bC4vL6sJ8eA' },
      },
    },
  })
  refresh(@Body() dto: RefreshTokenDto): Promise<TokenPairDto> {
    return this.auth.refresh(dto.refreshToken);
  }

  /** Revoke one refresh token. */
  @Post('logout')
  @HttpCode(204)
  @Public()
  @AuthRoute()
  async logout(@Body() dto: RefreshTokenDto): Promise<void> {
    await this.auth.logout(dto.refreshToken);
  }

  /** Revoke every access and refresh token of the caller. */
  @Post('logout-all')
  @HttpCode(204)
  @ApiBearerAuth()
  @ApiProblems(401)
  async logoutAll(@CurrentUser() user: AuthUser): Promise<void> {
    await this.auth.logoutEverywhere(user.id);
  }

  /** The caller's own account. */
  @Get('me')
  @ApiBearerAuth()
  @ApiProblems(401)
  async me(@CurrentUser() user: AuthUser): Promise<UserDto> {
    return UserDto.from(await this.auth.me(user.id));
  }
}
