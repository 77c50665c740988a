import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsString, Matches, MaxLength, MinLength } from 'class-validator';

export const USERNAME_PATTERN = /^[a-z0-9._-]{3,32}$/;

/** What a client may send: upper case too, since it is lower-cased before USERNAME_PATTERN applies. */
const USERNAME_INPUT_PATTERN = /^[A-Za-z0-9._-]{3,32}$/;

/** Usernames are case-insensitive: they are lower-cased before validation and storage. */
export function IsUsername(): PropertyDecorator {
  return applyDecorators(
    ApiProperty({
      example: 'alice',
      pattern: USERNAME_INPUT_PATTERN.source,
      minLength: 3,
      maxLength: 32,
      description: 'Case-insensitive: stored and answered lower-cased (`Alice` signs in as `alice`).',
    }),
    Transform(({ value }) => (typeof value === 'string' ? value.toLowerCase() : value)),
    IsString(),
    Matches(USERNAME_PATTERN, { message: 'username must be 3-32 characters of a-z 0-9 . _ -' }),
  );
}

/** At least 12 characters; capped so hashing cannot be used to burn CPU. */
export function IsPassword(): PropertyDecorator {
  return applyDecorators(
    ApiProperty({ example: 'correct horse battery staple', minLength: 12, maxLength: 256, format: 'password' }),
    IsString(),
    MinLength(12),
    MaxLength(256),
  );
}
