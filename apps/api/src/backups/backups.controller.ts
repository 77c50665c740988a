import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  ParseIntPipe,
  ParseUUIDPipe,
  Post,
  Query,
  Res,
  StreamableFile,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiParam,
  ApiProduces,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { AuthUser, CurrentUser } from '../auth/decorators';
import { ApiProblems, problemResponse } from '../common/api-problems.decorator';
import { PageQueryDto } from '../common/page-query.dto';
import { Idempotency, IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { ResourceResponse } from '../idempotency/resource-response';
import { VmAcceptedDto } from '../vms/dto/vm.dto';
import { BackupsService } from './backups.service';
import {
  BackupAcceptedDto,
  BackupDto,
  BackupManifestDto,
  BackupPageDto,
  CreateBackupDto,
  ListBackupsQueryDto,
  RestoreBackupDto,
} from './dto/backup.dto';
import { ScopeResource } from '../auth/scopes';

const IDEMPOTENCY_HEADER = {
  name: 'Idempotency-Key',
  required: false,
  description: 'Repeat the request safely: the same key and body replay the first response for 24 h',
};

const DISK_HEADERS = {
  'Accept-Ranges': {
    description: 'Byte ranges are served',
    required: true,
    schema: { type: 'string', enum: ['bytes'] },
  },
  ETag: {
    description: "The file's SHA-256, quoted",
    required: true,
    schema: { type: 'string', pattern: '^"[0-9a-f]{64}"$' },
  },
};

@ApiTags('backups')
@ApiBearerAuth()
@ApiProblems(400, 401, 404, 429)
@ScopeResource('vms')
@Controller({ version: '1' })
export class BackupsController {
  constructor(private readonly backups: BackupsService) {}

  /**
   * Back up every disk of the VM (running, paused or stopped) into the backup store: frozen
   * through the guest agent when it is connected, otherwise crash-consistent. Counts against your
   * `backupGiB` quota.
   */
  @Post('vms/:vmId/backups')
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiAcceptedResponse({ type: BackupAcceptedDto, description: 'Accepted; Location names the operation' })
  @ApiProblems(403, 409, 422, 502, 503, 507)
  @ResourceResponse()
  create(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Body() _dto: CreateBackupDto,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<BackupAcceptedDto> {
    return this.backups.create(user, vmId, idem);
  }

  /** The VM's ready backups, newest first. */
  @Get('vms/:vmId/backups')
  // Every VM route declares what the hypervisor and its storage may answer (docs/openapi.json's contract).
  @ApiProblems(502, 503, 507)
  async listOfVm(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Query() page: PageQueryDto,
  ): Promise<BackupPageDto> {
    const result = await this.backups.listOfVm(user, vmId, page);
    return { items: result.items.map(BackupDto.from), nextCursor: result.nextCursor };
  }

  /** Your ready backups (admins: everyone's, or one owner's with `ownerId`), newest first; they outlive their VM. */
  @Get('backups')
  async list(@CurrentUser() user: AuthUser, @Query() query: ListBackupsQueryDto): Promise<BackupPageDto> {
    const result = await this.backups.list(user, query);
    return { items: result.items.map(BackupDto.from), nextCursor: result.nextCursor };
  }

  /** One backup, in any state. */
  @Get('backups/:id')
  async get(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<BackupDto> {
    return BackupDto.from(await this.backups.get(user, id));
  }

  /** What the backup holds: the VM's spec, and each disk file's size and SHA-256. */
  @Get('backups/:id/manifest')
  @ApiProblems(409)
  async manifest(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<BackupManifestDto> {
    return BackupManifestDto.from(await this.backups.manifest(user, id));
  }

  /** One disk of the backup: a compressed standalone qcow2, streamed; one byte range with `Range`. */
  @Get('backups/:id/disks/:position')
  @ApiParam({ name: 'position', schema: { type: 'integer', minimum: 0, maximum: 15 } })
  @ApiHeader({
    name: 'Range',
    required: false,
    description: 'One byte range, `bytes=start-end`, `bytes=start-` or `bytes=-suffix`',
  })
  @ApiProduces('application/octet-stream')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' }, headers: DISK_HEADERS })
  @ApiResponse({
    status: 206,
    description: 'The byte range asked for',
    content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
    headers: {
      ...DISK_HEADERS,
      'Content-Range': { description: '`bytes start-end/size`', required: true, schema: { type: 'string' } },
    },
  })
  @ApiResponse({
    status: 416,
    ...problemResponse(416, 'RANGE_NOT_SATISFIABLE: the range starts past the end of the file'),
    headers: { 'Content-Range': { description: '`bytes */size`', required: true, schema: { type: 'string' } } },
  })
  @ApiProblems(409)
  async disk(
    @CurrentUser() user: AuthUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Param('position', ParseIntPipe) position: number,
    @Headers('range') range: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<StreamableFile> {
    const read = await this.backups.readDisk(user, id, position, range);
    res.setHeader('Accept-Ranges', 'bytes');
    res.setHeader('ETag', `"${read.sha256}"`);
    if (read.range) {
      res.status(206);
      res.setHeader('Content-Range', `bytes ${read.range.start}-${read.range.end}/${read.sizeBytes}`);
    }
    const length = read.range ? read.range.end - read.range.start + 1 : read.sizeBytes;
    return new StreamableFile(read.stream, { type: 'application/octet-stream', length });
  }

  /**
   * Restore into a new VM of yours (`new`: it boots from the backup's disks; quota as a create), or
   * over the backed-up VM (`original`: it must be stopped; its disks and snapshots are replaced).
   * Every file's checksum is verified before anything changes: a damaged backup fails with
   * BACKUP_CORRUPT.
   */
  @Post('backups/:id/restore')
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiAcceptedResponse({ type: VmAcceptedDto, description: 'Accepted; Location names the operation' })
  @ApiProblems(403, 409, 422, 502, 503, 507)
  @ResourceResponse()
  restore(
    @CurrentUser() user: AuthUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: RestoreBackupDto,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<VmAcceptedDto> {
    return this.backups.restore(user, id, dto, idem);
  }

  /** Delete the backup's files; frees its quota. 409 while it is being made or restored from. */
  @Delete('backups/:id')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiProblems(409)
  async remove(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.backups.remove(user, id);
  }
}
