import { ApiProperty } from '@nestjs/swagger';
import { USER_STATUSES, User, UserStatus } from '../user.entity';
import { USER_ROLES, UserRole } from '../user-role';

/** A user as the API shows it: never the password hash or lock-out counters. */
export class UserDto {
  @ApiProperty({ format: 'uuid', example: '3f2b8a8e-6a55-4a9c-9d2c-1c1f0f3f5b7a' })
  id: string;

  @ApiProperty({ example: 'alice' })
  username: string;

  @ApiProperty({ enum: USER_ROLES, example: 'user' })
  role: UserRole;

  @ApiProperty({ enum: USER_STATUSES, example: 'active' })
  status: UserStatus;

  /** Whether the user signs in with a TOTP second factor. */
  @ApiProperty({ example: false })
  totpEnabled: boolean;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ example: '2026-11-26T08:00:00.000Z' })
  updatedAt: string;

  static from(user: User): UserDto {
    return {
      id: user.id,
      username: user.username,
      role: user.role,
      status: user.status,
      totpEnabled: user.totpEnabled ?? false,
      createdAt: user.createdAt.toISOString(),
      updatedAt: user.updatedAt.toISOString(),
    };
  }
}

export class UserPageDto {
  @ApiProperty({ type: [UserDto] })
  items: UserDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}
