import { Body, Controller, Delete, Get, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiHeader, ApiTags } from '@nestjs/swagger';
import { AuthUser, CurrentUser } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { PageQueryDto } from '../common/page-query.dto';
import { Idempotency, IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { ResourceResponse } from '../idempotency/resource-response';
import { CreateSnapshotDto, SnapshotAcceptedDto, SnapshotDto, SnapshotPageDto } from './dto/snapshot.dto';
import { SnapshotsService } from './snapshots.service';
import { ScopeResource } from '../auth/scopes';

const IDEMPOTENCY_HEADER = { name: 'Idempotency-Key', required: false };

@ApiTags('snapshots')
@ApiBearerAuth()
@ApiProblems(400, 401, 404, 429, 502, 507)
@ScopeResource('vms')
@Controller({ path: 'vms/:vmId/snapshots', version: '1' })
export class SnapshotsController {
  constructor(private readonly snapshots: SnapshotsService) {}

  /** The VM's snapshots, newest first. */
  @Get()
  async list(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Query() page: PageQueryDto,
  ): Promise<SnapshotPageDto> {
    const result = await this.snapshots.list(user, vmId, page);
    return { items: result.items.map(SnapshotDto.from), nextCursor: result.nextCursor };
  }

  /** Take an internal snapshot (with memory when the VM runs). Counts against your snapshot quota. */
  @Post()
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiAcceptedResponse({ type: SnapshotAcceptedDto })
  @ApiProblems(403, 409, 422)
  @ResourceResponse()
  create(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Body() dto: CreateSnapshotDto,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<SnapshotAcceptedDto> {
    return this.snapshots.create(user, vmId, dto, idem);
  }

  /** Return the VM's disk (and memory, if taken running) to the snapshot. */
  @Post(':snapshotId/revert')
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiAcceptedResponse({ type: SnapshotAcceptedDto })
  @ApiProblems(409, 422)
  @ResourceResponse()
  revert(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Param('snapshotId', ParseUUIDPipe) snapshotId: string,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<SnapshotAcceptedDto> {
    return this.snapshots.revert(user, vmId, snapshotId, idem);
  }

  /** Delete a snapshot; frees its quota. */
  @Delete(':snapshotId')
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiAcceptedResponse({ type: SnapshotAcceptedDto })
  @ApiProblems(409, 422)
  @ResourceResponse()
  remove(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Param('snapshotId', ParseUUIDPipe) snapshotId: string,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<SnapshotAcceptedDto> {
    return this.snapshots.remove(user, vmId, snapshotId, idem);
  }
}
