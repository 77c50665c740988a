import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { PageQueryDto } from '../common/page-query.dto';
import { AlertRulesService } from './alert-rules.service';
import { AlertRuleDto, AlertRulePageDto, CreateAlertRuleDto, UpdateAlertRuleDto } from './dto/alert-rule.dto';
import { ScopeResource } from '../auth/scopes';

/** Alert rules, for admins. Four defaults are seeded: disk ≥ 85 %, memory ≥ 90 %, hypervisor down, agent down. */
@ApiTags('alerts')
@ApiBearerAuth()
@ApiProblems(400, 401, 403, 429)
@Roles('admin')
@ScopeResource('alerts')
@Controller({ path: 'alert-rules', version: '1' })
export class AlertRulesController {
  constructor(private readonly rules: AlertRulesService) {}

  /** Alert rules, newest first. */
  @Get()
  async list(@Query() page: PageQueryDto): Promise<AlertRulePageDto> {
    const result = await this.rules.list(page);
    return { items: result.items.map(AlertRuleDto.from), nextCursor: result.nextCursor };
  }

  /** Create a rule; it takes part from the next evaluation on. */
  @Post()
  @ApiProblems(409)
  async create(@Body() dto: CreateAlertRuleDto): Promise<AlertRuleDto> {
    return AlertRuleDto.from(await this.rules.create(dto));
  }

  /** One rule. */
  @Get(':id')
  @ApiProblems(404)
  async get(@Param('id', ParseUUIDPipe) id: string): Promise<AlertRuleDto> {
    return AlertRuleDto.from(await this.rules.get(id));
  }

  /** Change a rule; its open alerts are judged by the new condition at the next evaluation. */
  @Patch(':id')
  @ApiProblems(404, 409)
  @ApiBody({
    type: UpdateAlertRuleDto,
    examples: {
      stricter: { summary: 'Fire later, and only after 10 minutes over it', value: { threshold: 95, for: 600 } },
    },
  })
  async update(@Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateAlertRuleDto): Promise<AlertRuleDto> {
    return AlertRuleDto.from(await this.rules.update(id, dto));
  }

  /** Delete a rule with its alert history and silences. */
  @Delete(':id')
  @HttpCode(204)
  @ApiProblems(404)
  async remove(@Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.rules.remove(id);
  }
}
