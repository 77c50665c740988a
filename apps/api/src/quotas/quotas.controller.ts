import { Body, Controller, Get, Param, ParseUUIDPipe, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { AuthUser, CurrentUser, Roles } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { QuotaDto, SetQuotaDto } from './dto/quota.dto';
import { QuotasService } from './quotas.service';
import { ScopeResource } from '../auth/scopes';

@ApiTags('quotas')
@ApiBearerAuth()
@ApiProblems(401, 429)
@ScopeResource('account')
@Controller({ version: '1' })
export class QuotasController {
  constructor(private readonly quotas: QuotasService) {}

  /** The caller's limits and current usage. */
  @Get('quota')
  mine(@CurrentUser() user: AuthUser): Promise<QuotaDto> {
    return this.quotas.get(user.id);
  }

  /** A user's limits and usage (admin). */
  @Get('users/:id/quota')
  @Roles('admin')
  @ScopeResource('users')
  @ApiProblems(400, 403, 404)
  get(@Param('id', ParseUUIDPipe) id: string): Promise<QuotaDto> {
    return this.quotas.get(id);
  }

  /** Override a user's limits (admin). */
  @Put('users/:id/quota')
  @Roles('admin')
  @ScopeResource('users')
  @ApiProblems(400, 403, 404)
  set(@Param('id', ParseUUIDPipe) id: string, @Body() dto: SetQuotaDto): Promise<QuotaDto> {
    return this.quotas.set(id, dto);
  }
}
