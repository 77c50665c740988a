import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsString, MaxLength, MinLength } from 'class-validator';
import { IsOptionalNotNull } from '../../common/validation';
import { USER_STATUSES, UserStatus } from '../user.entity';
import { USER_ROLES, UserRole } from '../user-role';

export class UpdateUserDto {
  @ApiPropertyOptional({ enum: USER_ROLES })
  @IsOptionalNotNull()
  @IsIn(USER_ROLES)
  role?: UserRole;

  @ApiPropertyOptional({ enum: USER_STATUSES })
  @IsOptionalNotNull()
  @IsIn(USER_STATUSES)
  status?: UserStatus;

  @ApiProperty({ required: false, minLength: 12, maxLength: 256, format: 'password' })
  @IsOptionalNotNull()
  @IsString()
  @MinLength(12)
  @MaxLength(256)
  password?: string;
}
