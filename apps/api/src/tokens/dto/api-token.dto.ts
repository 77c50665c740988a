import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { SCOPES, Scope } from '../../auth/scopes';
import { PageQueryDto } from '../../common/page-query.dto';
import { ApiToken } from '../api-token.entity';

/** Letters, digits, space and `. _ : @ / ( ) + , # -`; no space at either end; nothing markup could read. */
const NAME = /^[\p{L}\p{N}._:@/()+,#-](?:[\p{L}\p{N} ._:@/()+,#-]{0,62}[\p{L}\p{N}._:@/()+,#-])?$/u;
export const MAX_EXPIRY_DAYS = 3650;

export class CreateApiTokenDto {
  /**
   * What the token is for: 1-64 letters, digits, spaces and `. _ : @ / ( ) + , # -`.
   * @example "ci-deploy"
   */
  @IsString()
  @MaxLength(64)
  @Matches(NAME, {
    message: 'name must be 1-64 letters, digits, spaces or . _ : @ / ( ) + , # -, with no space at either end',
  })
  name: string;

  /** What the token may do (see the API guide's scope list); at least one. */
  @ApiProperty({ enum: SCOPES, isArray: true, example: ['vms:read'] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(SCOPES.length)
  @ArrayUnique()
  @IsIn(SCOPES, { each: true })
  scopes: Scope[];

  /** When the token stops working: a future date-time (at most 10 years ahead). Default: never (unless expiresInDays). */
  @ApiPropertyOptional({ format: 'date-time', example: '2027-06-30T00:00:00Z' })
  @IsOptional()
  @IsISO8601({ strict: true })
  expiresAt?: string;

  /** Instead of expiresAt: the token stops working this many days from now. */
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_EXPIRY_DAYS, example: 90 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_EXPIRY_DAYS)
  expiresInDays?: number;
}

export class ApiTokenQueryDto extends PageQueryDto {
  /** Admins only: another user's tokens (default: your own). */
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  userId?: string;
}

export class ApiTokenDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'ci-deploy' })
  name: string;

  @ApiProperty({ enum: SCOPES, isArray: true, example: ['vms:read'] })
  scopes: Scope[];

  /** The owner. */
  @ApiProperty({ format: 'uuid' })
  userId: string;

  @ApiProperty({ format: 'date-time', example: '2026-12-07T08:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: '2027-06-30T00:00:00.000Z' })
  expiresAt: string | null;

  /** Recorded at most once a minute. */
  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: null })
  lastUsedAt: string | null;

  @ApiProperty({ type: String, nullable: true, example: null })
  lastUsedIp: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: null })
  revokedAt: string | null;

  /** The secret's last 4 characters. */
  @ApiProperty({ example: 'x9Qk', minLength: 4, maxLength: 4 })
  hint: string;

  static from(token: ApiToken): ApiTokenDto {
    return {
      id: token.id,
      name: token.name,
      scopes: token.scopes as Scope[],
      userId: token.userId,
      createdAt: token.createdAt.toISOString(),
      expiresAt: token.expiresAt?.toISOString() ?? null,
      lastUsedAt: token.lastUsedAt?.toISOString() ?? null,
      lastUsedIp: token.lastUsedIp,
      revokedAt: token.revokedAt?.toISOString() ?? null,
      hint: token.hint,
    };
  }
}

export class CreatedApiTokenDto {
  @ApiProperty({ type: ApiTokenDto })
  token: ApiTokenDto;

  /** The bearer secret: shown here only, never again. */
  @ApiProperty({
    pattern: '^limen_pat_[A-Za-z0-9_-]{43}$',
    example: 'limen_pat_q8Xv3nJ0cS1mZrYkT5wB2hE7uA9dL4gF6pN0sV3xW1o',
  })
  secret: string;
}

export class ApiTokenPageDto {
  @ApiProperty({ type: [ApiTokenDto] })
  items: ApiTokenDto[];

  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}
