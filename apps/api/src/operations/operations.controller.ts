import { Controller, Get, Param, ParseUUIDPipe, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { AuthUser, CurrentUser } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { PageQueryDto } from '../common/page-query.dto';
import { OperationDto, OperationPageDto } from './dto/operation.dto';
import { WaitQueryDto } from './dto/wait-query.dto';
import { OperationsService } from './operations.service';
import { ScopeResource } from '../auth/scopes';

@ApiTags('operations')
@ApiBearerAuth()
@ApiProblems(400, 401, 429)
@ScopeResource('events')
@Controller({ path: 'operations', version: '1' })
export class OperationsController {
  constructor(private readonly operations: OperationsService) {}

  /** Your operations, newest first (admins see all). */
  @Get()
  async list(@CurrentUser() user: AuthUser, @Query() page: PageQueryDto): Promise<OperationPageDto> {
    const result = await this.operations.list(user, page);
    return { items: result.items.map(OperationDto.from), nextCursor: result.nextCursor };
  }

  /** One operation. */
  @Get(':id')
  @ApiProblems(404)
  async get(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<OperationDto> {
    return OperationDto.from(await this.operations.get(user, id));
  }

  /** Long-poll: answers when the operation ends, or after `timeout` seconds (at most 60) with its current state. */
  @Get(':id/wait')
  @ApiProblems(404)
  async wait(
    @CurrentUser() user: AuthUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Query() query: WaitQueryDto,
  ): Promise<OperationDto> {
    return OperationDto.from(await this.operations.wait(user, id, query.timeout));
  }
}
