import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { ApiProblemExamples, ApiProblems } from '../common/api-problems.decorator';
import { ErrorCode } from '../common/problem';
import {
  ChallengeDto,
  SecondFactorLoginDto,
  SecondFactorLoginRequestDto,
  TotpEnrolmentDto,
} from '../second-factor/dto/second-factor.dto';
import { UserDto } from '../users/dto/user.dto';
import { AuthService } from './auth.service';
import { RequestOrigin } from './client-context';
import { RefreshCookie } from './refresh-cookie';
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

  /**
   * Exchange a username and password for an access and a refresh token. With a second factor on
   * (or demanded by REQUIRE_2FA) a right password answers 401 `SECOND_FACTOR_REQUIRED` with a
   * `challenge` for POST /auth/login/second-factor (and `enrolment: true` when a factor must be set up first).
   */
  @Post('login')
  @HttpCode(200)
  @Public()
  @AuthRoute()
  @ApiProblems(403)
  @ApiProblemExamples(401, 'INVALID_CREDENTIALS, or SECOND_FACTOR_REQUIRED (with `challenge` and `enrolment`)', [
    { code: ErrorCode.INVALID_CREDENTIALS, detail: 'Wrong username or password' },
    {
      code: ErrorCode.SECOND_FACTOR_REQUIRED,
      detail: 'Send a code from your authenticator app (or a recovery code) with this challenge',
      extra: { challenge: 'Zx8q1Jt0bV4mN6sK2pL9rW3yH5cF7dA0eG1iU8oT2kQ', enrolment: false },
    },
  ])
  @RefreshCookie('issue', 200, TokenPairDto)
  login(@Body() dto: LoginDto, @RequestOrigin() origin: ClientOrigin): Promise<TokenPairDto> {
    return this.auth.login(dto, origin);
  }

  /**
   * Complete a sign-in with a code from your authenticator app or a recovery code (each accepted
   * once; a code must be of a later 30 s step than the last one accepted). Wrong ones are 401
   * `INVALID_SECOND_FACTOR` and count in the login lock-out (429 `ACCOUNT_LOCKED`). A challenge that
   * demanded an enrolment takes a code from the new secret and answers your recovery codes too.
   */
  @Post('login/second-factor')
  @HttpCode(200)
  @Public()
  @AuthRoute()
  @ApiProblems(409)
  @RefreshCookie('issue', 200, SecondFactorLoginDto)
  @ApiProblemExamples(401, 'INVALID_SECOND_FACTOR, or INVALID_CHALLENGE (unknown, used or expired)', [
    { code: ErrorCode.INVALID_SECOND_FACTOR, detail: 'The code or recovery code is wrong, already used or expired' },
    {
      code: ErrorCode.INVALID_CHALLENGE,
      detail: 'The sign-in challenge is unknown, used or expired; sign in with your password again',
    },
  ])
  @ApiBody({
    type: SecondFactorLoginRequestDto,
    examples: {
      code: {
        summary: 'With a code from your app',
        description:
          'Send the `challenge` your sign-in answered; this one is a placeholder, refused as `INVALID_CHALLENGE`.',
        value: { challenge: 'Zx8q1Jt0bV4mN6sK2pL9rW3yH5cF7dA0eG1iU8oT2kQ', code: '123456' },
      },
      recoveryCode: {
        summary: 'With a recovery code',
        description:
          'Send the `challenge` your sign-in answered; this one is a placeholder, refused as `INVALID_CHALLENGE`.',
        value: { challenge: 'Zx8q1Jt0bV4mN6sK2pL9rW3yH5cF7dA0eG1iU8oT2kQ', recoveryCode: 'k7mq2-x4dfr' },
      },
    },
  })
  completeSecondFactor(
    @Body() dto: SecondFactorLoginRequestDto,
    @RequestOrigin() origin: ClientOrigin,
  ): Promise<SecondFactorLoginDto> {
    return this.auth.completeSecondFactor(dto, origin);
  }

  /** When REQUIRE_2FA demands a factor you have not set up: a secret for your app; confirm it through POST /auth/login/second-factor. */
  @Post('login/totp-enrolment')
  @HttpCode(200)
  @Public()
  @AuthRoute()
  @ApiProblems(409)
  @ApiProblemExamples(401, 'INVALID_CHALLENGE: unknown, used, expired, or not an enrolment', [
    {
      code: ErrorCode.INVALID_CHALLENGE,
      detail: 'The sign-in challenge is unknown, used or expired; sign in with your password again',
    },
  ])
  @ApiBody({
    type: ChallengeDto,
    examples: {
      enrol: {
        summary: 'Enrol during sign-in',
        description:
          'Send the `challenge` your sign-in answered; this one is a placeholder, refused as `INVALID_CHALLENGE`.',
        value: { challenge: 'Zx8q1Jt0bV4mN6sK2pL9rW3yH5cF7dA0eG1iU8oT2kQ' },
      },
    },
  })
  startEnrolment(@Body() dto: ChallengeDto): Promise<TotpEnrolmentDto> {
    return this.auth.startEnrolment(dto.challenge);
  }

  /** Rotate a refresh token: it is spent, and a new pair is returned. Reusing a spent one revokes its whole session. */
  @Post('refresh')
  @HttpCode(200)
  @Public()
  @AuthRoute()
  @ApiProblems(401)
  @RefreshCookie('rotate', 200, TokenPairDto)
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

  /** Revoke one refresh token; when it is its session's live one, the session ends, its access tokens too. */
  @Post('logout')
  @HttpCode(204)
  @Public()
  @AuthRoute()
  @RefreshCookie('end', 204)
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
