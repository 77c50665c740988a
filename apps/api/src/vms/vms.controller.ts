import {
  Body,
  Controller,
  Delete,
  Get,
  Header,
  Headers,
  Param,
  ParseUUIDPipe,
  Patch,
  Post,
  Query,
  StreamableFile,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiBody,
  ApiHeader,
  ApiOkResponse,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import { AuthUser, CurrentUser } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { Idempotency, IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { ResourceResponse } from '../idempotency/resource-response';
import { CREATE_VM_EXAMPLES, CreateVmDto } from './dto/create-vm.dto';
import { ListVmsQueryDto, SerialQueryDto } from './dto/list-vms-query.dto';
import { UpdateVmDto } from './dto/update-vm.dto';
import { MediaDto, VmActionDto } from './dto/vm-action.dto';
import { VmAcceptedDto, VmDto, VmPageDto } from './dto/vm.dto';
import { VmStatsDto } from './dto/vm-stats.dto';
import { VmsService } from './vms.service';
import { ScopeResource } from '../auth/scopes';

const IDEMPOTENCY_HEADER = {
  name: 'Idempotency-Key',
  required: false,
  description: 'Repeat the request safely: the same key and body replay the first response for 24 h',
};

@ApiTags('vms')
@ApiBearerAuth()
// 502 and 507: the hypervisor refused, or the VM directory is full (docs/api-guide.md).
@ApiProblems(400, 401, 429, 502, 507)
@ScopeResource('vms')
@Controller({ path: 'vms', version: '1' })
export class VmsController {
  constructor(private readonly vms: VmsService) {}

  /** Your VMs (admins: everyone's, or one owner's with `ownerId`). */
  @Get()
  @Header('Content-Type', 'application/json; charset=utf-8')
  @ApiOkResponse({ type: VmPageDto })
  async list(@CurrentUser() user: AuthUser, @Query() query: ListVmsQueryDto): Promise<string> {
    return this.vms.listJson(user, query);
  }

  /** Create a VM from an image; it is provisioned (and started) by the returned operation. */
  @Post()
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiBody({ type: CreateVmDto, examples: CREATE_VM_EXAMPLES })
  @ApiAcceptedResponse({ type: VmAcceptedDto, description: 'Accepted; Location names the operation' })
  @ApiProblems(403, 404, 409, 422)
  @ResourceResponse()
  create(
    @CurrentUser() user: AuthUser,
    @Body() dto: CreateVmDto,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<VmAcceptedDto> {
    return this.vms.create(user, dto, idem);
  }

  /** One VM, with its ETag. */
  @Get(':id')
  @ApiProblems(404)
  @ResourceResponse()
  async get(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<VmDto> {
    return VmDto.from(await this.vms.get(user, id));
  }

  /** Change vCPUs, memory, description, boot order or autostart. Description and autostart alone answer 200; the rest 202 with an operation. */
  @Patch(':id')
  @ApiHeader({ name: 'If-Match', required: false, description: 'The ETag you last read; a stale one gets 412' })
  @ApiOkResponse({ type: VmDto })
  @ApiAcceptedResponse({ type: VmAcceptedDto })
  @ApiProblems(403, 404, 409, 412)
  @ResourceResponse()
  update(
    @CurrentUser() user: AuthUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: UpdateVmDto,
    @Headers('if-match') ifMatch: string | undefined,
  ): Promise<VmDto | VmAcceptedDto> {
    return this.vms.update(user, id, dto, ifMatch);
  }

  /** Delete the VM, its domain, disks and seed ISO; frees its quota. */
  @Delete(':id')
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiAcceptedResponse({ type: VmAcceptedDto })
  @ApiProblems(404, 409, 422)
  @ResourceResponse()
  remove(
    @CurrentUser() user: AuthUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<VmAcceptedDto> {
    return this.vms.remove(user, id, idem);
  }

  /** start, shutdown (ACPI, optional force after timeoutSeconds), stop (power off), reboot, reset, suspend, resume. */
  @Post(':id/actions')
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiAcceptedResponse({ type: VmAcceptedDto })
  @ApiProblems(404, 409, 422)
  @ResourceResponse()
  action(
    @CurrentUser() user: AuthUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: VmActionDto,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<VmAcceptedDto> {
    return this.vms.action(user, id, dto, idem);
  }

  /** Insert an ISO image into the CD-ROM drive. */
  @Post(':id/media')
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiBody({
    type: MediaDto,
    examples: {
      iso: {
        summary: 'Insert an ISO image',
        description:
          '`imageId`: the id of an ISO image from GET /api/v1/images; this one is a placeholder, so sent as is it is refused for `imageId`.',
        value: { imageId: '9a4c2e71-3b5d-4f08-8e6a-1c7d9b2f4e53' },
      },
    },
  })
  @ApiAcceptedResponse({ type: VmAcceptedDto })
  @ApiProblems(404, 409, 422)
  @ResourceResponse()
  insertMedia(
    @CurrentUser() user: AuthUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: MediaDto,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<VmAcceptedDto> {
    return this.vms.insertMedia(user, id, dto, idem);
  }

  /** Eject the CD-ROM media. */
  @Delete(':id/media')
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiAcceptedResponse({ type: VmAcceptedDto })
  @ApiProblems(404, 409, 422)
  @ResourceResponse()
  ejectMedia(
    @CurrentUser() user: AuthUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<VmAcceptedDto> {
    return this.vms.ejectMedia(user, id, idem);
  }

  /** CPU %, memory, and disk and network rates of a running VM. */
  @Get(':id/stats')
  @ApiProblems(404, 409, 503)
  stats(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<VmStatsDto> {
    return this.vms.stats(user, id);
  }

  /** The tail of the serial console (the boot log), as text. */
  @Get(':id/serial')
  @Header('Content-Type', 'text/plain; charset=utf-8')
  @ApiProduces('text/plain')
  @ApiOkResponse({ schema: { type: 'string' } })
  @ApiProblems(404, 409, 503)
  serial(
    @CurrentUser() user: AuthUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Query() query: SerialQueryDto,
  ): Promise<string> {
    return this.vms.serial(user, id, query.bytes);
  }

  /** A PNG of the VM's screen. */
  @Get(':id/screenshot')
  @ApiProduces('image/png')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' } })
  @ApiProblems(404, 409, 503)
  async screenshot(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<StreamableFile> {
    return new StreamableFile(await this.vms.screenshot(user, id), { type: 'image/png' });
  }
}
