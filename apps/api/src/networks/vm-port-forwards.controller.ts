import { Body, Controller, Delete, Get, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiBody, ApiHeader, ApiTags } from '@nestjs/swagger';
import { AuthUser, CurrentUser } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { Idempotency, IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { ResourceResponse } from '../idempotency/resource-response';
import { CreatePortForwardDto, PortForwardAcceptedDto, PortForwardListDto } from './dto/create-port-forward.dto';
import { PortForwardDto } from './dto/port-forward.dto';
import { PortForwardsService } from './port-forwards.service';
import { ScopeResource } from '../auth/scopes';

const IDEMPOTENCY_HEADER = { name: 'Idempotency-Key', required: false };

/** Host ports forwarded to a VM's user-mode NICs: how a VM without a routed address is reached (SSH on 22, …). */
@ApiTags('networks')
@ApiBearerAuth()
@ApiProblems(400, 401, 404, 429, 502, 507)
@ScopeResource('vms')
@Controller({ path: 'vms/:vmId/port-forwards', version: '1' })
export class VmPortForwardsController {
  constructor(private readonly forwards: PortForwardsService) {}

  /** The VM's port forwards, oldest first. */
  @Get()
  async list(@CurrentUser() user: AuthUser, @Param('vmId', ParseUUIDPipe) vmId: string): Promise<PortForwardListDto> {
    return { items: (await this.forwards.list(user, vmId)).map(PortForwardDto.from) };
  }

  /**
   * Forward a host port to `guestPort` of a user-mode NIC. The answer names the host port and
   * address at once (connect to `hostAddress:hostPort`); the operation applies it to the VM, live
   * when it runs. A full PORT_FORWARD_RANGE is 409 PORT_RANGE_EXHAUSTED.
   */
  @Post()
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiBody({
    type: CreatePortForwardDto,
    examples: {
      ssh: {
        summary: "Forward a host port to the guest's SSH port",
        description:
          'On the first user-mode NIC of the VM. Refused with `PORT_RANGE_EXHAUSTED` when no port of the range is free.',
        value: { guestPort: 22, protocol: 'tcp' },
      },
    },
  })
  @ApiAcceptedResponse({ type: PortForwardAcceptedDto, description: 'Accepted; Location names the operation' })
  @ApiProblems(409, 422)
  @ResourceResponse()
  add(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Body() dto: CreatePortForwardDto,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<PortForwardAcceptedDto> {
    return this.forwards.add(user, vmId, dto, idem);
  }

  /** Remove a forward; its host port is free once the operation has taken it off the VM. */
  @Delete(':forwardId')
  @ApiHeader(IDEMPOTENCY_HEADER)
  @ApiAcceptedResponse({ type: PortForwardAcceptedDto, description: 'Accepted; Location names the operation' })
  @ApiProblems(409, 422)
  @ResourceResponse()
  remove(
    @CurrentUser() user: AuthUser,
    @Param('vmId', ParseUUIDPipe) vmId: string,
    @Param('forwardId', ParseUUIDPipe) forwardId: string,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<PortForwardAcceptedDto> {
    return this.forwards.remove(user, vmId, forwardId, idem);
  }
}
