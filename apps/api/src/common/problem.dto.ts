import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ErrorCode } from './problem';

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

  @ApiProperty({ type: 'integer', minimum: 400, maximum: 599, example: 400 })
  status: number;

  @ApiProperty({ example: 'Validation failed for username' })
  detail: string;

  /** Stable machine-readable error code. */
  @ApiProperty({ enum: Object.values(ErrorCode), enumName: 'ErrorCode', example: 'VALIDATION_FAILED' })
  code: ErrorCode;

  /** Echo of X-Request-Id, for finding the matching log lines. */
  @ApiProperty({ example: '5f0c8a63-6b8e-4a4e-9a57-0b7f3f8d2a11' })
  requestId: string;

  @ApiPropertyOptional({ example: '/api/v1/auth/register' })
  instance?: string;

  /** Present on VALIDATION_FAILED. */
  @ApiPropertyOptional({ type: [FieldErrorDto] })
  errors?: FieldErrorDto[];

  /** On INVALID_STATE: the current state of the VM (or snapshot). */
  @ApiPropertyOptional({ example: 'running' })
  state?: string;

  /** On INVALID_STATE from a VM action: the states the action is allowed from. */
  @ApiPropertyOptional({ example: ['stopped', 'crashed'] })
  allowedFrom?: string[];

  /** On QUOTA_EXCEEDED: the quota that would be exceeded. */
  @ApiPropertyOptional({ enum: ['vms', 'vcpus', 'memoryMiB', 'diskGiB', 'snapshots', 'backupGiB'], example: 'vcpus' })
  resource?: string;

  /** On QUOTA_EXCEEDED: the quota's limit; on TOO_MANY_STREAMS and CONSOLE_SESSION_LIMIT: how many may be open. */
  @ApiPropertyOptional({ type: 'integer', example: 8 })
  limit?: number;

  /** On QUOTA_EXCEEDED: how much of it is in use (disk space to the MiB, so it may be fractional). */
  @ApiPropertyOptional({ example: 6 })
  used?: number;

  /** On QUOTA_EXCEEDED: how much the request needs (disk space may be fractional). */
  @ApiPropertyOptional({ example: 4 })
  requested?: number;

  /** On SECOND_FACTOR_REQUIRED: the sign-in's challenge (opaque, single use, 5 minutes) for POST /auth/login/second-factor. */
  @ApiPropertyOptional({ example: 'Zx8q1Jt0bV4mN6sK2pL9rW3yH5cF7dA0eG1iU8oT2kQ' })
  challenge?: string;

  /** On SECOND_FACTOR_REQUIRED: true when REQUIRE_2FA demands a factor not set up yet (POST /auth/login/totp-enrolment first). */
  @ApiPropertyOptional({ example: false })
  enrolment?: boolean;
}
