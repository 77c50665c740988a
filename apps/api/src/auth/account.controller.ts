import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { ApiProblems } from '../common/api-problems.decorator';
import { AccountService } from './account.service';
import { AuthUser, CurrentUser } from './decorators';
import { ChangePasswordDto, SessionDto } from './dto/account.dto';
import { TokenPairDto } from './dto/token-pair.dto';
import type { ClientOrigin } from './token.service';
import { CurrentSessionTokenId, RequestOrigin } from './client-context';
import { ScopeResource } from './scopes';
import { RefreshCookie } from './refresh-cookie';

/** Self-service: the signed-in user's password and sessions. */
@ApiTags('auth')
@ApiBearerAuth()
@ApiProblems(400, 401, 429)
@ScopeResource('account')
@Controller({ path: 'auth', version: '1' })
export class AccountController {
  constructor(private readonly account: AccountService) {}

  /**
   * Change your password. A wrong `currentPassword` is 401 `INVALID_CREDENTIALS` and counts in the
   * login lock-out (429 `ACCOUNT_LOCKED`). On success every other session and every access token
   * issued so far are revoked, and the answer is a fresh pair: the only session left.
   */
  @Post('password')
  @HttpCode(200)
  @RefreshCookie('issue', 200, TokenPairDto)
  @ApiBody({
    type: ChangePasswordDto,
    examples: {
      change: {
        summary: 'Change your password',
        description:
          'Send your real current password; this one is a placeholder, refused as `INVALID_CREDENTIALS` (the new one must be 12 to 256 characters).',
        value: { currentPassword: 'my current password', newPassword: 'a new and long enough passphrase' },
      },
    },
  })
  changePassword(
    @CurrentUser() user: AuthUser,
    @Body() dto: ChangePasswordDto,
    @RequestOrigin() origin: ClientOrigin,
  ): Promise<TokenPairDto> {
    return this.account.changePassword(user.id, dto, origin);
  }

  /** Your live sessions (one per sign-in, until it signs out, is revoked or expires), most recently used first. */
  @Get('sessions')
  sessions(@CurrentUser() user: AuthUser, @CurrentSessionTokenId() tokenId?: string): Promise<SessionDto[]> {
    return this.account.sessions(user.id, tokenId);
  }

  /** End one of your sessions: its refresh token and access tokens stop working at once. Not yours, or already over: 404. */
  @Delete('sessions/:id')
  @HttpCode(204)
  @ApiProblems(404)
  async revokeSession(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.account.revokeSession(user.id, id);
  }
}
