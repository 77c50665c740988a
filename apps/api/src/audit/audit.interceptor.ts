import { CallHandler, ExecutionContext, HttpException, Injectable, NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Observable, tap } from 'rxjs';
import { AuthUser } from '../auth/decorators';
import { AppException } from '../common/problem';
import { AuditService } from './audit.service';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Body fields worth keeping in the record; secrets and free text never are. */
const RECORDED_FIELDS = [
  'action',
  'name',
  'role',
  'status',
  'vcpus',
  'memoryMiB',
  'diskGiB',
  'imageId',
  'force',
  'timeoutSeconds',
  'bootOrder',
  'start',
  'autostart',
  'type',
];

function kebab(name: string): string {
  return name
    .replace(/Controller$/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase();
}

function recordedDetails(body: unknown): Record<string, unknown> | null {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return null;
  const picked = Object.fromEntries(
    RECORDED_FIELDS.filter((f) => f in body).map((f) => [f, (body as Record<string, unknown>)[f]]),
  );
  return Object.keys(picked).length ? picked : null;
}

function firstParam(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function createdId(body: unknown): string | undefined {
  const b = body as { id?: unknown; vm?: { id?: unknown }; snapshot?: { id?: unknown } } | undefined;
  const id = b?.vm?.id ?? b?.snapshot?.id ?? b?.id;
  return typeof id === 'string' ? id : undefined;
}

/**
 * Records every state-changing request once it has been answered: who, what
 * (`<resource>.<handler>`, e.g. vms.create), on what, with which result, from
 * where; plus before/after when the service annotated a change. Reads are not recorded.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(private readonly audit: AuditService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = context.switchToHttp().getRequest<Request & { user?: AuthUser; id?: unknown }>();
    if (context.getType() !== 'http' || READS.has(req.method)) return next.handle();
    const res = context.switchToHttp().getResponse<Response>();
    const resource = kebab(context.getClass().name);
    let responseBody: unknown;
    let errorCode: string | null = null;

    return new Observable((subscriber) => {
      const { result: subscription, annotations } = this.audit.withContext(() =>
        next
          .handle()
          .pipe(
            tap({
              next: (body) => (responseBody = body),
              error: (error) => {
                errorCode =
                  error instanceof AppException
                    ? error.code
                    : error instanceof HttpException
                      ? `HTTP_${error.getStatus()}`
                      : 'INTERNAL_ERROR';
              },
            }),
          )
          .subscribe(subscriber),
      );
      res.once('finish', () => {
        const body = req.body as { username?: unknown } | undefined;
        const params = req.params ?? {};
        void this.audit.record({
          actorId: req.user?.id ?? null,
          actorUsername:
            req.user?.username ??
            annotations.actorUsername ??
            (typeof body?.username === 'string' ? body.username.toLowerCase().slice(0, 64) : null),
          action: annotations.action ?? `${resource}.${context.getHandler().name}`,
          targetType: resource,
          targetId:
            annotations.targetId ??
            firstParam(params.snapshotId ?? params.id ?? params.vmId) ??
            createdId(responseBody) ??
            null,
          result: res.statusCode < 400 ? 'success' : 'failure',
          statusCode: res.statusCode,
          errorCode,
          requestId: req.id === undefined ? null : String(req.id),
          ip: req.ip ?? null,
          userAgent: req.headers['user-agent']?.slice(0, 512) ?? null,
          before: annotations.before ?? null,
          after: annotations.after ?? null,
          details: recordedDetails(req.body),
        });
      });
      return subscription;
    });
  }
}
