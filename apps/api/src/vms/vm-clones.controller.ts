import { Body, Controller, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiBody, ApiHeader, ApiTags } from '@nestjs/swagger';
import { AuthUser, CurrentUser } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { Idempotency, IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { ResourceResponse } from '../idempotency/resource-response';
import { CloneVmDto } from './dto/clone-vm.dto';
import { VmAcceptedDto } from './dto/vm.dto';
import { VmClonesService } from './vm-clones.service';
import { ScopeResource } from '../auth/scopes';

@ApiTags('vms')
@ApiBearerAuth()
@ApiProblems(400, 401, 429, 502, 507)
@ScopeResource('vms')
@Controller({ path: 'vms', version: '1' })
export class VmClonesController {
  constructor(private readonly clones: VmClonesService) {}

  /**
   * Clone a stopped VM (or a running one from a snapshot) into a new VM of yours on the same host:
   * same vCPUs, memory, boot order, disks and networks; new disk ids, MACs, cloud-init instance id,
   * hostname (its name) and machine id. Linked clones share a read-only base copy of each disk.
   * Counts against your quota like a create; the returned operation makes its disks.
   */
  @Post(':id/clone')
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'Repeat the request safely: the same key and body replay the first response for 24 h',
  })
  @ApiBody({
    type: CloneVmDto,
    examples: {
      linked: {
        summary: 'A linked clone of a stopped VM',
        description:
          'The VM must be stopped (else `INVALID_STATE`); the name must be free among your VMs (else `CONFLICT`).',
        value: { name: 'web-1-copy', linked: true },
      },
    },
  })
  @ApiAcceptedResponse({ type: VmAcceptedDto, description: 'Accepted; Location names the operation' })
  @ApiProblems(403, 404, 409, 422)
  @ResourceResponse()
  clone(
    @CurrentUser() user: AuthUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: CloneVmDto,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<VmAcceptedDto> {
    return this.clones.clone(user, id, dto, idem);
  }
}
