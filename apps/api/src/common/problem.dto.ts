import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class FieldErrorDto {
  @ApiProperty({ example: 'username' })
  field: string;

  @ApiProperty({ example: ['username must match /^[a-z0-9._-]{3,32}$/'] })
  messages: string[];
}

/** RFC 9457 problem details, the body of every error response (application/problem+json). */
export class ProblemDto {
  @ApiProperty({ example: 'https://limen.dev/problems/validation-failed' })
  type: string;

  @ApiProperty({ example: 'Bad Request' })
  title: string;

  @ApiProperty({ example: 400 })
  status: number;

  @ApiProperty({ example: 'Validation failed for username' })
  detail: string;

  /** Stable machine-readable error code. */
  @ApiProperty({ example: 'VALIDATION_FAILED' })
  code: string;

  /** Echo of X-Request-Id, for finding the matching log lines. */
  @ApiProperty({ example: '5f0c8a63-6b8e-4a4e-9a57-0b7f3f8d2a11' })
  requestId: string;

  @ApiPropertyOptional({ example: '/api/v1/auth/register' })
  instance?: string;

  /** Present on VALIDATION_FAILED. */
  @ApiPropertyOptional({ type: [FieldErrorDto] })
  errors?: FieldErrorDto[];
}
