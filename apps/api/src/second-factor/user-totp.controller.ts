import { Controller, Delete, HttpCode, Param, ParseUUIDPipe } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/decorators';
import { ScopeResource } from '../auth/scopes';
import { ApiProblems } from '../common/api-problems.decorator';
import { SecondFactorService } from './second-factor.service';

/** An admin's reset of a user's second factor (a lost phone and lost recovery codes). */
@ApiTags('users')
@ApiBearerAuth()
@ApiProblems(400, 401, 403, 404, 429)
@Roles('admin')
@ScopeResource('users')
@Controller({ path: 'users', version: '1' })
export class UserTotpController {
  constructor(private readonly secondFactor: SecondFactorService) {}

  /** Remove the user's TOTP factor and recovery codes (audited). Under REQUIRE_2FA their next sign-in enrols again. */
  @Delete(':id/totp')
  @HttpCode(204)
  async resetTotp(@Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.secondFactor.reset(id);
  }
}
