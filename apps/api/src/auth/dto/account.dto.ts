import { ApiProperty } from '@nestjs/swagger';
import { IsString, MaxLength, MinLength } from 'class-validator';
import { IsPassword } from '../../users/dto/credentials';

export class ChangePasswordDto {
  /** Any length is accepted here so a wrong guess is just a wrong password. */
  @ApiProperty({ example: 'correct horse battery staple', format: 'password' })
  @IsString()
  @MinLength(1)
  @MaxLength(256)
  currentPassword: string;

  @IsPassword()
  newPassword: string;
}

/** One signed-in session: a refresh-token family, from its sign-in to its latest rotation. */
export class SessionDto {
  /** The family's id; DELETE /auth/sessions/{id} ends it. */
  @ApiProperty({ format: 'uuid', example: '8c1f4a2e-5b3d-4e6f-9a7b-0c1d2e3f4a5b' })
  id: string;

  /** The sign-in. */
  @ApiProperty({ format: 'date-time', example: '2026-12-01T08:00:00.000Z' })
  createdAt: string;

  /** The latest refresh (or the sign-in, if the session never refreshed). */
  @ApiProperty({ format: 'date-time', example: '2026-12-01T09:45:00.000Z' })
  lastUsedAt: string;

  /** The address the sign-in came from, as the api saw it (behind a proxy, the hops TRUST_PROXY trusts decide). */
  @ApiProperty({ type: String, nullable: true, example: '198.51.100.2' })
  createdIp: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'limen-cli/1.0' })
  userAgent: string | null;

  /** The session of the access token this request carries. */
  @ApiProperty({ example: true })
  current: boolean;
}
