import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn } from 'class-validator';
import { IsOptionalNotNull } from '../../common/validation';
import { USER_STATUSES, UserStatus } from '../user.entity';
import { USER_ROLES, UserRole } from '../user-role';
import { IsPassword, IsUsername } from './credentials';

export class CreateUserDto {
  @IsUsername()
  username: string;

  @IsPassword()
  password: string;

  @ApiPropertyOptional({ enum: USER_ROLES, default: 'user' })
  @IsOptionalNotNull()
  @IsIn(USER_ROLES)
  role?: UserRole;

  @ApiPropertyOptional({ enum: USER_STATUSES, default: 'active' })
  @IsOptionalNotNull()
  @IsIn(USER_STATUSES)
  status?: UserStatus;
}
