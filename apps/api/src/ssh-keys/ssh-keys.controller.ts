import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { AuthUser, CurrentUser } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { PageQueryDto } from '../common/page-query.dto';
import { CreateSshKeyDto, SshKeyDto, SshKeyPageDto } from './dto/ssh-key.dto';
import { SshKeysService } from './ssh-keys.service';
import { ScopeResource } from '../auth/scopes';

/** Your SSH public keys. Give their ids as `sshKeyIds` when creating a VM from a cloud image: cloud-init installs them. */
@ApiTags('ssh-keys')
@ApiBearerAuth()
@ApiProblems(400, 401, 429)
@ScopeResource('ssh-keys')
@Controller({ path: 'ssh-keys', version: '1' })
export class SshKeysController {
  constructor(private readonly keys: SshKeysService) {}

  /** Your keys, newest first. */
  @Get()
  async list(@CurrentUser() user: AuthUser, @Query() page: PageQueryDto): Promise<SshKeyPageDto> {
    const result = await this.keys.list(user, page);
    return { items: result.items.map(SshKeyDto.from), nextCursor: result.nextCursor };
  }

  /** Add a key: one OpenSSH public key line; ed25519, ecdsa or rsa ≥ 2048 bits. A name or key you already have is 409. */
  @Post()
  @ApiProblems(409)
  async create(@CurrentUser() user: AuthUser, @Body() dto: CreateSshKeyDto): Promise<SshKeyDto> {
    return SshKeyDto.from(await this.keys.create(user, dto));
  }

  /** One of your keys. */
  @Get(':id')
  @ApiProblems(404)
  async get(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<SshKeyDto> {
    return SshKeyDto.from(await this.keys.get(user, id));
  }

  /** Delete a key. VMs it was installed in keep it (it is in their guest); new VMs cannot name it. */
  @Delete(':id')
  @HttpCode(204)
  @ApiProblems(404)
  async remove(@CurrentUser() user: AuthUser, @Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.keys.remove(user, id);
  }
}
