import { Body, Controller, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiBody, ApiHeader, ApiTags } from '@nestjs/swagger';
import { AuthUser, CurrentUser } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { Idempotency, IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { ResourceResponse } from '../idempotency/resource-response';
import { CreateTemplateDto, ImageAcceptedDto } from './dto/image.dto';
import { TemplatesService } from './templates.service';
import { ScopeResource } from '../auth/scopes';

@ApiTags('images')
@ApiBearerAuth()
@ApiProblems(400, 401, 429, 502, 507)
@ScopeResource('vms')
@Controller({ path: 'vms', version: '1' })
export class TemplatesController {
  constructor(private readonly templates: TemplatesService) {}

  /**
   * Make an image (a template) of a stopped VM's boot disk: a standalone compressed qcow2, usable
   * as a create source (`imageId`) by you and admins until an admin publishes it (PATCH
   * /api/v1/images/{id}). Counts against your `backupGiB` quota; the returned operation writes it.
   */
  @Post(':id/image')
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'Repeat the request safely: the same key and body replay the first response for 24 h',
  })
  @ApiBody({
    type: CreateTemplateDto,
    examples: {
      template: {
        summary: 'A template of a stopped VM',
        description: 'The VM must be stopped (else `INVALID_STATE`); no image may have the name yet (else `CONFLICT`).',
        value: { name: 'web-base-2026-12', description: 'web server, patched 2026-12-07' },
      },
    },
  })
  @ApiAcceptedResponse({ type: ImageAcceptedDto, description: 'Accepted; Location names the operation' })
  @ApiProblems(403, 404, 409, 422)
  @ResourceResponse()
  create(
    @CurrentUser() user: AuthUser,
    @Param('id', ParseUUIDPipe) id: string,
    @Body() dto: CreateTemplateDto,
    @Idempotency() idem: IdempotentRequest | undefined,
  ): Promise<ImageAcceptedDto> {
    return this.templates.create(user, id, dto, idem);
  }
}
