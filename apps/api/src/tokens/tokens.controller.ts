import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { AuthUser, CurrentUser } from '../auth/decorators';
import { ScopeResource } from '../auth/scopes';
import { ApiProblems } from '../common/api-problems.decorator';
import {
  ApiTokenDto,
  ApiTokenPageDto,
  ApiTokenQueryDto,
  CreateApiTokenDto,
  CreatedApiTokenDto,
} from './dto/api-token.dto';
import { TokensService } from './tokens.service';

/** Personal API tokens: bearer credentials for automation, limited to their scopes. */
@ApiTags('tokens')
@ApiBearerAuth()
@ApiProblems(400, 401, 403, 429)
@ScopeResource('tokens')
@Controller({ path: 'tokens', version: '1' })
export class TokensController {
  constructor(private readonly tokens: TokensService) {}

  /**
   * Create a token. Its secret is in this response only: store it now. A token cannot grant
   * scopes it lacks; only admins can grant `admin`. 409 when you hold the most live tokens allowed.
   */
  @Post()
  @ApiProblems(409)
  @ApiBody({
    type: CreateApiTokenDto,
    examples: {
      readOnly: {
        summary: 'Read VMs for 90 days',
        value: { name: 'dashboard', scopes: ['vms:read'], expiresInDays: 90 },
      },
      deploy: {
        summary: 'Manage VMs and follow their operations until a date',
        value: {
          name: 'ci-deploy',
          scopes: ['vms:write', 'images:read', 'events:read'],
          expiresAt: '2027-06-30T00:00:00Z',
        },
      },
    },
  })
  async create(@CurrentUser() user: AuthUser, @Body() dto: CreateApiTokenDto): Promise<CreatedApiTokenDto> {
    const { token, secret } = await this.tokens.create(user, dto);
    return { token: ApiTokenDto.from(token), secret };
  }

  /** Your tokens (revoked ones too), newest first; admins may ask for another user's with `userId`. */
  @Get()
  async list(@CurrentUser() user: AuthUser, @Query() query: ApiTokenQueryDto): Promise<ApiTokenPageDto> {
    const page = await this.tokens.list(user, query);
    return { items: page.items.map(ApiTokenDto.from), nextCursor: page.nextCursor };
  }

  /** One token (yours, or any for admins). */
  @Get(':id')
  @ApiProblems(404)
  async get(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<ApiTokenDto> {
    return ApiTokenDto.from(await this.tokens.get(user, id));
  }

  /** Revoke a token (yours, or any for admins): refused from the next request on, on every replica. The row stays, revoked. */
  @Delete(':id')
  @HttpCode(204)
  @ApiProblems(404)
  async revoke(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.tokens.revoke(user, id);
  }
}
