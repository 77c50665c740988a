import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { HypervisorError } from '@limen/libvirt';
import type { Request, Response } from 'express';
import type { Duplex } from 'node:stream';
import { hypervisorLogText, userDetailOf } from './hypervisor-details';
import { AppException, ErrorCode, PROBLEM_CONTENT_TYPE, problemType, titleFor } from './problem';

interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId?: string;
  instance?: string;
  [extra: string]: unknown;
}

/** Errors raised by body-parser before any route runs carry a `type` like this. */
interface BodyParserError {
  type?: string;
  status?: number;
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01',
  '57P03',
  '08006',
  '08001',
  '08003',
]);

/**
 * What pg and pg-pool say when no connection can be had. "timeout exceeded when trying to connect"
 * is pg-pool's answer to a request that queued for a connection (all of them busy, for example
 * still trying to reach a database that stopped answering) for longer than connectionTimeoutMillis:
 * the database is unavailable to this request, and the client should retry, not report a bug.
 * "Query read timeout": the database stopped answering a query (see BoundedClient).
 */
const CONNECTION_ERROR_MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|Connection is not established|not connected/i;

/** Whether an unknown error means the database cannot be reached (answer 503, not 500). */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: string; message?: string; driverError?: { code?: string } } | undefined;
  if (!e) return false;
  const code = e.code ?? e.driverError?.code;
  if (code && CONNECTION_ERROR_CODES.has(code)) return true;
  return CONNECTION_ERROR_MESSAGES.test(e.message ?? '');
}

/**
 * The single place where every failure becomes RFC 9457 problem+json. Nothing
 * else formats errors, and no stack trace or driver message ever reaches a client.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Problem');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    this.send(exception, http.getRequest<Request>(), http.getResponse<Response>());
  }

  /** Also used directly by the catch-all 404 outside /api, which no Nest filter reaches. */
  send(exception: unknown, req: Request, res: Response): void {
    const problem = this.toProblem(exception, req);
    if (res.headersSent) {
      res.end();
      return;
    }
    if (exception instanceof AppException) {
      for (const [name, value] of Object.entries(exception.headers)) res.setHeader(name, value);
    }
    res.status(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  }

  /**
   * node:http's `clientError`: a request its parser refused (headers over 16 KiB, a malformed
   * request line or header, a request that did not arrive in time) never becomes a request, so
   * no filter sees it, and Node would answer with a bare status line. Answered here as a problem
   * too, with the statuses Node itself uses, and the connection closed.
   */
  answerClientError(error: Error & { code?: string }, socket: Duplex): void {
    const response = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || response?.headersSent) {
      socket.destroy();
      return;
    }
    const problem =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? this.body(431, ErrorCode.HEADERS_TOO_LARGE, 'The request headers are too large')
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? this.body(408, ErrorCode.REQUEST_TIMEOUT, 'The request did not arrive in time')
          : error.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW'
            ? this.body(413, ErrorCode.PAYLOAD_TOO_LARGE, 'The request body exceeds the size limit')
            : this.body(400, ErrorCode.MALFORMED_REQUEST, 'The request is not valid HTTP/1.1');
    const body = JSON.stringify(problem);
    socket.end(
      `HTTP/1.1 ${problem.status} ${problem.title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }

  private toProblem(exception: unknown, req: Request): ProblemBody {
    const base = {
      requestId: req.id === undefined ? undefined : String(req.id),
      instance: req.originalUrl?.split('?')[0],
    };
    if (exception instanceof AppException) {
      const status = exception.getStatus();
      return { ...this.body(status, exception.code, exception.detail), ...base, ...exception.extra };
    }
    // Nest wraps body-parser's http-errors in an HttpException; the original is the cause.
    const parserError = (exception instanceof HttpException ? exception.cause : exception) as
      BodyParserError | undefined;
    if (parserError?.type === 'entity.parse.failed') {
      return { ...this.body(400, ErrorCode.MALFORMED_JSON, 'The request body is not valid JSON'), ...base };
    }
    if (parserError?.type === 'entity.too.large') {
      return { ...this.body(413, ErrorCode.PAYLOAD_TOO_LARGE, 'The request body exceeds the size limit'), ...base };
    }
    if (parserError?.type === 'charset.unsupported' || parserError?.type === 'encoding.unsupported') {
      return { ...this.body(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'Unsupported body encoding'), ...base };
    }
    if (exception instanceof HttpException && exception.cause instanceof URIError) {
      return { ...this.body(400, ErrorCode.VALIDATION_FAILED, 'The URL is not validly percent-encoded'), ...base };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      if (status === HttpStatus.NOT_FOUND) {
        return { ...this.body(404, ErrorCode.ROUTE_NOT_FOUND, `No route for ${req.method} ${base.instance}`), ...base };
      }
      return {
        ...this.body(status, this.codeForStatus(status), this.safeMessage(exception)),
        ...base,
        ...this.healthDetails(exception),
      };
    }
    if (HypervisorError.is(exception)) {
      return { ...this.hypervisorProblem(exception), ...base };
    }
    if (isDatabaseUnavailable(exception)) {
      this.logger.warn(`database unavailable: ${(exception as Error).message}`);
      return {
        ...this.body(503, ErrorCode.DATABASE_UNAVAILABLE, 'The database is unavailable; try again shortly'),
        ...base,
      };
    }
    this.logger.error({ err: exception }, 'unhandled error');
    return { ...this.body(500, ErrorCode.INTERNAL_ERROR, 'An unexpected error occurred'), ...base };
  }

  /** A hypervisor failure on a synchronous route: a stable code and a fixed detail; its own text goes to the log. */
  private hypervisorProblem(error: HypervisorError): ProblemBody {
    this.logger.warn(`hypervisor error ${error.code}: ${hypervisorLogText(error)}`);
    const detail = userDetailOf(error);
    switch (error.code) {
      case 'HYPERVISOR_UNAVAILABLE':
        return this.body(503, ErrorCode.HYPERVISOR_UNAVAILABLE, detail);
      case 'INVALID_STATE':
      case 'DOMAIN_NOT_FOUND':
        return this.body(409, ErrorCode.INVALID_STATE, detail);
      case 'NETWORK_CONFLICT':
      case 'NETWORK_IN_USE':
      case 'STORAGE_CONFLICT':
      case 'GUEST_AGENT_UNAVAILABLE':
        return this.body(409, error.code, detail);
      case 'TIMEOUT':
        return this.body(504, error.code, detail);
      case 'INSUFFICIENT_STORAGE':
        return this.body(507, ErrorCode.INSUFFICIENT_STORAGE, detail);
      default:
        return this.body(502, ErrorCode.HYPERVISOR_ERROR, detail);
    }
  }

  private body(status: number, code: string, detail: string): ProblemBody {
    return { type: problemType(code), title: titleFor(status), status, detail, code };
  }

  /** A failed readiness check (terminus) keeps its per-dependency details, so a 503 says what is down. */
  private healthDetails(exception: HttpException): { checks?: unknown } {
    const response = exception.getResponse() as { status?: unknown; details?: unknown } | string;
    if (typeof response === 'object' && response.status === 'error' && response.details)
      return { checks: response.details };
    return {};
  }

  private safeMessage(exception: HttpException): string {
    const response = exception.getResponse();
    if (typeof response === 'string') return response;
    const message = (response as { message?: unknown }).message;
    if (typeof message === 'string') return message;
    if (Array.isArray(message)) return message.join('; ');
    return titleFor(exception.getStatus());
  }

  private codeForStatus(status: number): string {
    switch (status) {
      case 400:
        return ErrorCode.VALIDATION_FAILED;
      case 401:
        return ErrorCode.UNAUTHENTICATED;
      case 403:
        return ErrorCode.FORBIDDEN;
      case 405:
        return ErrorCode.METHOD_NOT_ALLOWED;
      case 409:
        return ErrorCode.CONFLICT;
      case 413:
        return ErrorCode.PAYLOAD_TOO_LARGE;
      case 429:
        return ErrorCode.RATE_LIMITED;
      case 503:
        return ErrorCode.SERVICE_UNAVAILABLE;
      default:
        return status >= 500 ? ErrorCode.INTERNAL_ERROR : `HTTP_${status}`;
    }
  }
}
