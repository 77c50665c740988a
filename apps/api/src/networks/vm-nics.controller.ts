import { Body, Controller, Delete, Get, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiBody, ApiHeader, ApiTags } from '@nestjs/swagger';
import { AuthUser, CurrentUser } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { Idempotency, IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { ResourceResponse } from '../idempotency/resource-response';
import { CreateNicDto, NicAcceptedDto, NicListDto } from './dto/nic.dto';
import { VmNicsService } from './vm-nics.service';
import { ScopeResource } from '../auth/scopes';

const IDEMPOTENCY_HEADER = { name: 'Idempotency-Key', required: false };

@ApiTags('networks')
@ApiBearerAuth()
@ApiProblems(400, 401, 404, 429, 502, 507)
@ScopeResource('vms')
@Controller({ path: 'vms/:vmId/nics', version: '1' })
export class VmNicsController {
  constructor(private readonly nics: VmNicsService) {}

  /** The VM's NICs in order, with the addresses last reported for each and their port forwards. */
  @Get()
  async list(@CurrentUser() user: AuthUser, @Param('vmId', ParseUUIDPipe) vmId: string): Promise<NicListDto> {
    return { items: await this.nics.list(user, vmId) };
  }

  /**
   * Add a NIC (at most 8 per VM): hot-plugged when the VM runs. A user-mode NIC cannot be
   * hot-plugged: 409 INVALID_STATE while the VM runs. A MAC in use is 409 MAC_IN_USE.
   */
  @Post()
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiBody({
    type: CreateNicDto,
    examples: {
      user: {
        summary: 'A NIC on the built-in user network',
        description:
          'The built-in `user` network has this fixed id. A user-mode NIC is added to a stopped VM only: on a running one it is refused with `INVALID_STATE`.',
        value: { networkId: '00000000-0000-4000-8000-000000000001', model: 'virtio' },
      },
    },
  })
  @ApiAcceptedResponse({ type: NicAcceptedDto })
  @ApiProblems(409, 422)
  @ResourceResponse()
  add(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Body() dto: CreateNicDto,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<NicAcceptedDto> {
    return this.nics.add(user, vmId, dto, idem);
  }

  /** Remove a NIC (unplugged when the VM runs); a VM keeps at least one (409). */
  @Delete(':nicId')
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiAcceptedResponse({ type: NicAcceptedDto })
  @ApiProblems(409, 422)
  @ResourceResponse()
  remove(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Param('nicId', ParseUUIDPipe) nicId: string,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<NicAcceptedDto> {
    return this.nics.remove(user, vmId, nicId, idem);
  }
}
