import { HttpException, HttpStatus } from '@nestjs/common';

/** Stable, documented error codes. Clients switch on these, never on messages. */
export const ErrorCode = {
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  MALFORMED_JSON: 'MALFORMED_JSON',
  MALFORMED_REQUEST: 'MALFORMED_REQUEST',
  REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  HEADERS_TOO_LARGE: 'HEADERS_TOO_LARGE',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  NOT_FOUND: 'NOT_FOUND',
  ROUTE_NOT_FOUND: 'ROUTE_NOT_FOUND',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  INVALID_CREDENTIALS: 'INVALID_CREDENTIALS',
  INVALID_REFRESH_TOKEN: 'INVALID_REFRESH_TOKEN',
  REFRESH_TOKEN_REUSED: 'REFRESH_TOKEN_REUSED',
  ACCOUNT_PENDING: 'ACCOUNT_PENDING',
  ACCOUNT_DISABLED: 'ACCOUNT_DISABLED',
  ACCOUNT_LOCKED: 'ACCOUNT_LOCKED',
  REGISTRATION_CLOSED: 'REGISTRATION_CLOSED',
  INSUFFICIENT_SCOPE: 'INSUFFICIENT_SCOPE',
  SECOND_FACTOR_REQUIRED: 'SECOND_FACTOR_REQUIRED',
  INVALID_SECOND_FACTOR: 'INVALID_SECOND_FACTOR',
  INVALID_CHALLENGE: 'INVALID_CHALLENGE',
  OIDC_NOT_CONFIGURED: 'OIDC_NOT_CONFIGURED',
  OIDC_LOGIN_FAILED: 'OIDC_LOGIN_FAILED',
  FORBIDDEN: 'FORBIDDEN',
  CONFLICT: 'CONFLICT',
  USERNAME_TAKEN: 'USERNAME_TAKEN',
  LAST_ADMIN: 'LAST_ADMIN',
  IMAGE_IN_USE: 'IMAGE_IN_USE',
  NETWORK_CONFLICT: 'NETWORK_CONFLICT',
  NETWORK_IN_USE: 'NETWORK_IN_USE',
  STORAGE_CONFLICT: 'STORAGE_CONFLICT',
  MAC_IN_USE: 'MAC_IN_USE',
  PORT_RANGE_EXHAUSTED: 'PORT_RANGE_EXHAUSTED',
  GUEST_AGENT_UNAVAILABLE: 'GUEST_AGENT_UNAVAILABLE',
  QUOTA_EXCEEDED: 'QUOTA_EXCEEDED',
  INSUFFICIENT_CAPACITY: 'INSUFFICIENT_CAPACITY',
  INSUFFICIENT_STORAGE: 'INSUFFICIENT_STORAGE',
  OPERATION_IN_PROGRESS: 'OPERATION_IN_PROGRESS',
  INVALID_STATE: 'INVALID_STATE',
  BACKUP_CORRUPT: 'BACKUP_CORRUPT',
  RANGE_NOT_SATISFIABLE: 'RANGE_NOT_SATISFIABLE',
  PRECONDITION_FAILED: 'PRECONDITION_FAILED',
  PRECONDITION_REQUIRED: 'PRECONDITION_REQUIRED',
  IDEMPOTENCY_KEY_REUSED: 'IDEMPOTENCY_KEY_REUSED',
  HYPERVISOR_UNAVAILABLE: 'HYPERVISOR_UNAVAILABLE',
  HYPERVISOR_ERROR: 'HYPERVISOR_ERROR',
  AGENT_UNAVAILABLE: 'AGENT_UNAVAILABLE',
  CONSOLE_TICKET_INVALID: 'CONSOLE_TICKET_INVALID',
  CONSOLE_SESSION_LIMIT: 'CONSOLE_SESSION_LIMIT',
  UPLOAD_LIMIT: 'UPLOAD_LIMIT',
  CONSOLE_UNAVAILABLE: 'CONSOLE_UNAVAILABLE',
  ORIGIN_NOT_ALLOWED: 'ORIGIN_NOT_ALLOWED',
  RATE_LIMITED: 'RATE_LIMITED',
  TOO_MANY_STREAMS: 'TOO_MANY_STREAMS',
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  DATABASE_UNAVAILABLE: 'DATABASE_UNAVAILABLE',
  INTERNAL_ERROR: 'INTERNAL_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface FieldError {
  /** Dotted path of the offending field, e.g. `cloudInit.hostname`. */
  field: string;
  messages: string[];
}

/**
 * The one exception type services throw for an expected failure. The problem
 * filter turns it into RFC 9457 problem+json; `extra` members are copied onto
 * the problem body (for example `resource`, `limit` on QUOTA_EXCEEDED).
 */
export class AppException extends HttpException {
  constructor(
    status: HttpStatus,
    readonly code: ErrorCode | string,
    readonly detail: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail, status);
  }

  static notFound(what: string): AppException {
    return new AppException(HttpStatus.NOT_FOUND, ErrorCode.NOT_FOUND, `${what} not found`);
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  507: 'Insufficient Storage',
};

export function titleFor(status: number): string {
  return TITLES[status] ?? 'Error';
}

export function problemType(code: string): string {
  return `https://limen.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
