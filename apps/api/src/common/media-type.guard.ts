import { CanActivate, ExecutionContext, HttpStatus, Type } from '@nestjs/common';
// Where Nest records a handler's parameter decorators (the same metadata @nestjs/swagger reads for the request body).
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { Reflector } from '@nestjs/core';
import { DECORATORS } from '@nestjs/swagger';
import type { Request } from 'express';
import { AppException, ErrorCode } from './problem';

/** A route handler, as Nest's ExecutionContext.getHandler() gives it. */
type Handler = ReturnType<ExecutionContext['getHandler']>;

export const JSON_MEDIA_TYPE = 'application/json';

/**
 * The media type a route reads its body as: what `@ApiConsumes` declares (so the spec and this
 * check cannot disagree), else JSON for a route that takes a `@Body()`, else none (it reads no body).
 */
export function expectedMediaType(reflector: Reflector, controller: Type, handler: Handler): string | undefined {
  const declared = reflector.getAllAndOverride<string[] | undefined>(DECORATORS.API_CONSUMES, [handler, controller]);
  if (declared?.length) return declared[0];
  const args: Record<string, { index: number }> =
    Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, handler.name) ?? {};
  return Object.keys(args).some((key) => Number(key.split(':')[0]) === RouteParamtypes.BODY)
    ? JSON_MEDIA_TYPE
    : undefined;
}

/** A body is present when it has a length above zero or comes chunked (an empty POST sends `Content-Length: 0`). */
function hasBody(req: Request): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * Refuses a body of another media type than the route reads, with 415 UNSUPPORTED_MEDIA_TYPE naming
 * the expected one. Without it a `text/plain` JSON body is skipped by the JSON parser and fails
 * validation field by field, and a JSON body sent to a raw upload is eaten by the JSON parser and
 * uploads as empty. It runs before authentication, like the body parser's own 400s and 413s.
 */
export class MediaTypeGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<Request>();
    const expected = expectedMediaType(this.reflector, context.getClass(), context.getHandler());
    if (!expected || !hasBody(req) || req.is(expected)) return true;
    const sent = req.headers['content-type'];
    throw new AppException(
      HttpStatus.UNSUPPORTED_MEDIA_TYPE,
      ErrorCode.UNSUPPORTED_MEDIA_TYPE,
      `This route reads ${expected}, not ${sent ? sent.split(';')[0].trim() : 'a body without Content-Type'}`,
    );
  }
}
