import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { USER_ROLES, USER_STATUSES, UserRole, UserStatus } from '../user.entity';
import { IsPassword, IsUsername } from './credentials';

export class CreateUserDto {
  @IsUsername()
  username: string;

  @IsPassword()
  password: string;

  @ApiPropertyOptional({ enum: USER_ROLES, default: 'user' })
  @IsOptional()
  @IsIn(USER_ROLES)
  role?: UserRole;

  @ApiPropertyOptional({ enum: USER_STATUSES, default: 'active' })
  @IsOptional()
  @IsIn(USER_STATUSES)
  status?: UserStatus;
}
