import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { AuditService } from './audit.service';
import { AuditEntryDto, AuditPageDto, AuditQueryDto } from './dto/audit.dto';
import { ScopeResource } from '../auth/scopes';

@ApiTags('audit')
@ApiBearerAuth()
@ApiProblems(400, 401, 403, 429)
@Roles('admin')
@ScopeResource('audit')
@Controller({ path: 'audit', version: '1' })
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  /** The audit trail, newest first (admins). Filter by actor, action, target and time range. */
  @Get()
  async list(@Query() query: AuditQueryDto): Promise<AuditPageDto> {
    const page = await this.audit.list(query);
    return { items: page.items.map(AuditEntryDto.from), nextCursor: page.nextCursor };
  }
}
