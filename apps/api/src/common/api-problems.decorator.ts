import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE } from './problem';
import { ProblemDto } from './problem.dto';

const DESCRIPTIONS: Record<number, string> = {
  400: 'VALIDATION_FAILED or MALFORMED_JSON',
  401: 'UNAUTHENTICATED: missing, expired, revoked or invalid token',
  403: 'FORBIDDEN: the caller lacks the role',
  404: 'NOT_FOUND: absent, or not visible to the caller',
  409: 'CONFLICT',
  412: 'PRECONDITION_FAILED: If-Match does not match the current ETag',
  413: 'PAYLOAD_TOO_LARGE: body over 1 MiB',
  422: 'IDEMPOTENCY_KEY_REUSED',
  429: 'RATE_LIMITED or ACCOUNT_LOCKED; see Retry-After',
  503: 'SERVICE_UNAVAILABLE or DATABASE_UNAVAILABLE',
};

/** Documents the listed error statuses as problem+json responses. */
export function ApiProblems(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: DESCRIPTIONS[status] ?? 'Problem',
        content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/ProblemDto' } } },
      }),
    ),
  );
}
