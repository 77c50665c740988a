import { HttpStatus } from '@nestjs/common';
import { AppException, ErrorCode } from '../common/problem';

/** No credential, or one that is malformed, badly signed or expired. */
export function unauthenticated(): AppException {
  return new AppException(
    HttpStatus.UNAUTHORIZED,
    ErrorCode.UNAUTHENTICATED,
    'A valid bearer access token is required',
    {},
    { 'WWW-Authenticate': 'Bearer' },
  );
}

/** Also answers a request whose user was deleted after the guard let its token through. */
export function revokedToken(): AppException {
  return new AppException(
    HttpStatus.UNAUTHORIZED,
    ErrorCode.UNAUTHENTICATED,
    'The access token has been revoked',
    {},
    { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
  );
}

/** An API token that is unknown, revoked or expired, or whose owner is no longer active. */
export function invalidApiToken(): AppException {
  return new AppException(
    HttpStatus.UNAUTHORIZED,
    ErrorCode.UNAUTHENTICATED,
    'The API token is unknown, expired or revoked, or its owner is not active',
    {},
    { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
  );
}

export function insufficientScope(detail: string): AppException {
  return new AppException(HttpStatus.FORBIDDEN, ErrorCode.INSUFFICIENT_SCOPE, detail);
}

const BEARER = /^\s*Bearer\s+(\S+)\s*$/i;

/** The credential of an `Authorization: Bearer …` header, or null. */
export function bearerOf(header: string | undefined): string | null {
  return header === undefined ? null : (BEARER.exec(header)?.[1] ?? null);
}
