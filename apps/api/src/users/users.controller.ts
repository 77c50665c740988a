import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiTags } from '@nestjs/swagger';
import { Roles } from '../auth/decorators';
import { ApiProblems } from '../common/api-problems.decorator';
import { PageQueryDto } from '../common/page-query.dto';
import { CreateUserDto } from './dto/create-user.dto';
import { UpdateUserDto } from './dto/update-user.dto';
import { UserDto, UserPageDto } from './dto/user.dto';
import { UsersService } from './users.service';
import { ScopeResource } from '../auth/scopes';

/** User management, for admins only. */
@ApiTags('users')
@ApiBearerAuth()
@ApiProblems(400, 401, 403, 429)
@Roles('admin')
@ScopeResource('users')
@Controller({ path: 'users', version: '1' })
export class UsersController {
  constructor(private readonly users: UsersService) {}

  /** List users, newest first. */
  @Get()
  async list(@Query() page: PageQueryDto): Promise<UserPageDto> {
    const result = await this.users.list(page);
    return { items: result.items.map(UserDto.from), nextCursor: result.nextCursor };
  }

  /** Create a user (active unless a status is given). */
  @Post()
  @ApiProblems(409)
  async create(@Body() dto: CreateUserDto): Promise<UserDto> {
    return UserDto.from(await this.users.create(dto));
  }

  /** Get one user. */
  @Get(':id')
  @ApiProblems(404)
  async get(@Param('id', ParseUUIDPipe) id: string): Promise<UserDto> {
    return UserDto.from(await this.users.get(id));
  }

  /** Change role, status or password. Takes effect on the user's next request. */
  @Patch(':id')
  @ApiProblems(404, 409)
  @ApiBody({
    type: UpdateUserDto,
    examples: {
      approve: { summary: 'Approve a pending account', value: { status: 'active' } },
      newPassword: {
        summary: 'Set a new password (signs the user out everywhere)',
        value: { password: 'a new and long enough password' },
      },
    },
  })
  async update(@Param('id', ParseUUIDPipe) id: string, @Body() dto: UpdateUserDto): Promise<UserDto> {
    return UserDto.from(await this.users.update(id, dto));
  }

  /** Delete a user. The last active admin cannot be deleted. */
  @Delete(':id')
  @HttpCode(204)
  @ApiProblems(404, 409)
  async remove(@Param('id', ParseUUIDPipe) id: string): Promise<void> {
    await this.users.remove(id);
  }

  /** Approve a pending registration. */
  @Post(':id/approve')
  @HttpCode(200)
  @ApiProblems(404, 409)
  async approve(@Param('id', ParseUUIDPipe) id: string): Promise<UserDto> {
    return UserDto.from(await this.users.approve(id));
  }
}
