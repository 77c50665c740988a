import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import type { ExampleObject, ResponseObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { ErrorCode, PROBLEM_CONTENT_TYPE, problemType, titleFor } from './problem';

export interface ProblemExample {
  code: ErrorCode;
  detail: string;
  extra?: Record<string, unknown>;
}

/** What each status means, and the problems its examples show. */
const PROBLEMS: Record<number, { description: string; examples: ProblemExample[] }> = {
  400: {
    description: 'VALIDATION_FAILED or MALFORMED_JSON',
    examples: [
      {
        code: ErrorCode.VALIDATION_FAILED,
        detail: 'Validation failed for vcpus',
        extra: { errors: [{ field: 'vcpus', messages: ['vcpus must be an integer number'] }] },
      },
      { code: ErrorCode.MALFORMED_JSON, detail: 'The request body is not valid JSON' },
    ],
  },
  401: {
    description: 'UNAUTHENTICATED: missing, expired, revoked or invalid token',
    examples: [{ code: ErrorCode.UNAUTHENTICATED, detail: 'A valid access token is required' }],
  },
  403: {
    description:
      'FORBIDDEN (the caller lacks the role), INSUFFICIENT_SCOPE (an API token lacks the scope) or QUOTA_EXCEEDED',
    examples: [
      { code: ErrorCode.FORBIDDEN, detail: 'This route needs the admin role' },
      { code: ErrorCode.INSUFFICIENT_SCOPE, detail: 'This route needs the vms:write scope' },
      {
        code: ErrorCode.QUOTA_EXCEEDED,
        detail: 'Quota exceeded for vcpus: 6 used + 4 requested > 8 allowed',
        extra: { resource: 'vcpus', limit: 8, used: 6, requested: 4 },
      },
    ],
  },
  404: {
    description: 'NOT_FOUND: absent, or not visible to the caller',
    examples: [{ code: ErrorCode.NOT_FOUND, detail: 'VM not found' }],
  },
  409: {
    description: 'CONFLICT, INVALID_STATE or OPERATION_IN_PROGRESS',
    examples: [
      {
        code: ErrorCode.INVALID_STATE,
        detail: 'Cannot start a VM that is running',
        extra: { state: 'running', allowedFrom: ['stopped', 'crashed'] },
      },
      { code: ErrorCode.CONFLICT, detail: 'You already have a VM named web-1' },
    ],
  },
  412: {
    description: 'PRECONDITION_FAILED: If-Match does not match the current ETag',
    examples: [{ code: ErrorCode.PRECONDITION_FAILED, detail: 'The VM changed (now "4"); re-read it and retry' }],
  },
  413: {
    description: 'PAYLOAD_TOO_LARGE: body over 1 MiB',
    examples: [{ code: ErrorCode.PAYLOAD_TOO_LARGE, detail: 'The request body exceeds the size limit' }],
  },
  422: {
    description: 'IDEMPOTENCY_KEY_REUSED',
    examples: [
      { code: ErrorCode.IDEMPOTENCY_KEY_REUSED, detail: 'This Idempotency-Key was used with a different request' },
    ],
  },
  429: {
    description: 'RATE_LIMITED or ACCOUNT_LOCKED; see Retry-After',
    examples: [{ code: ErrorCode.RATE_LIMITED, detail: 'Too many requests; retry in 42 s' }],
  },
  500: {
    description: 'INTERNAL_ERROR: a bug; the log line with the same requestId has the details',
    examples: [{ code: ErrorCode.INTERNAL_ERROR, detail: 'An unexpected error occurred' }],
  },
  502: {
    description: 'HYPERVISOR_ERROR or AGENT_UNAVAILABLE',
    examples: [
      { code: ErrorCode.HYPERVISOR_ERROR, detail: 'The hypervisor refused the request' },
      { code: ErrorCode.AGENT_UNAVAILABLE, detail: 'The agent did not answer' },
    ],
  },
  503: {
    description: 'HYPERVISOR_UNAVAILABLE or DATABASE_UNAVAILABLE: a dependency is down; retry shortly',
    examples: [
      { code: ErrorCode.DATABASE_UNAVAILABLE, detail: 'The database is unavailable' },
      { code: ErrorCode.HYPERVISOR_UNAVAILABLE, detail: 'The hypervisor is unavailable' },
    ],
  },
  507: {
    description: "INSUFFICIENT_STORAGE: the host's VM directory is full",
    examples: [{ code: ErrorCode.INSUFFICIENT_STORAGE, detail: 'The VM directory is full' }],
  },
};

/** An example problem body of `status` (its own status, never another's). */
function exampleOf(status: number, { code, detail, extra }: ProblemExample): ExampleObject {
  const value = {
    type: problemType(code),
    title: titleFor(status),
    status,
    detail,
    code,
    requestId: '5f0c8a63-6b8e-4a4e-9a57-0b7f3f8d2a11',
    instance: '/api/v1/vms/0b9d6c3e-2f41-4a8e-9c1d-7e5a3b2c1d0f',
    ...extra,
  };
  return { summary: `${status} ${code}`, value };
}

/** A problem+json response for `status`, with examples of that status. */
export function problemResponse(status: number, description?: string): ResponseObject {
  const problem = PROBLEMS[status];
  const examples = Object.fromEntries(
    (problem?.examples ?? []).map((example) => [example.code, exampleOf(status, example)]),
  );
  return {
    description: description ?? problem?.description ?? titleFor(status),
    content: {
      [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/ProblemDto' }, ...(problem ? { examples } : {}) },
    },
  };
}

/** Documents the listed error statuses as problem+json responses. */
export function ApiProblems(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(...statuses.map((status) => ApiResponse({ status, ...problemResponse(status) })));
}

/** Documents one error status with examples of its own (problems a route answers beyond the usual ones). */
export function ApiProblemExamples(
  status: number,
  description: string,
  examples: ProblemExample[],
): MethodDecorator & ClassDecorator {
  const response = problemResponse(status, description);
  const media = response.content![PROBLEM_CONTENT_TYPE];
  media.examples = Object.fromEntries(examples.map((example) => [example.code, exampleOf(status, example)]));
  return ApiResponse({ status, ...response });
}
