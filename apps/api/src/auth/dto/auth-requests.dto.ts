import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { IsPassword, IsUsername } from '../../users/dto/credentials';

export class RegisterDto {
  @IsUsername()
  username: string;

  @IsPassword()
  password: string;
}

export class LoginDto {
  @IsUsername()
  username: string;

  /** Any length is accepted here so a wrong guess is just a wrong password. */
  @ApiProperty({ example: 'correct horse battery staple', format: 'password' })
  @IsString()
  @MinLength(1)
  @MaxLength(256)
  password: string;
}

export class RefreshTokenDto {
  /** Required, except with `X-Limen-Session: cookie`, where the session cookie carries it. */
  @ApiProperty({ example: 'm5Yk0n2q7X0y0QF8wq3mN1hQ2rU7o9t0bC4vL6sJ8eA', required: false })
  @IsString()
  @MaxLength(128)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'refreshToken is malformed' })
  refreshToken: string;
}

export class RegisteredDto {
  /** Only under REGISTRATION=open; under approval the answer must not tell whether an account was made. */
  @ApiProperty({ format: 'uuid', required: false })
  id?: string;

  @ApiProperty({ example: 'alice' })
  username: string;

  /** `pending` until an admin approves, under REGISTRATION=approval. */
  @ApiProperty({ enum: ['pending', 'active'], example: 'pending' })
  status: string;
}
