import { INestApplication, NotFoundException, RequestMethod, VersioningType } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import type { Request, Response } from 'express';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { Logger } from 'nestjs-pino';
import { AppConfig } from './config/app-config';
import { refuseUnsafeJsonBodies } from './common/json-depth';
import { requestIdMiddleware } from './common/logging';
import { MediaTypeGuard } from './common/media-type.guard';
import { setupSwagger } from './common/openapi';
import { ProblemDetailsFilter } from './common/problem-details.filter';
import { installRequestDeadline } from './common/request-deadline';
import { securityHeaders } from './common/security-headers';
import { createValidationPipe } from './common/validation';
import { httpMetricsMiddleware } from './metrics/http-metrics.middleware';
import { MetricsService } from './metrics/metrics.service';
import { dashboard, findWebBuild } from './web/dashboard';

export const BODY_LIMIT = '1mb';

/**
 * Everything between "Nest created the app" and "listen", shared by main.ts
 * and the e2e tests so they exercise exactly what production runs.
 */
export async function initApp(app: NestExpressApplication): Promise<INestApplication> {
  const config = app.get(AppConfig);
  app.useLogger(app.get(Logger));
  app.set('trust proxy', config.trustProxy);
  // The API's ETags are versions, set where documented (a VM: `"<version>"`, for If-Match).
  // Express would also hash every other body for a weak ETag: sha1 over each list page.
  app.set('etag', false);
  app.use(httpMetricsMiddleware(app.get(MetricsService)));
  app.use(requestIdMiddleware);
  const problems = new ProblemDetailsFilter();
  const server = app.getHttpServer() as Server;
  server.keepAliveTimeout = config.keepAliveTimeoutSeconds * 1000;
  // Node's advice: headersTimeout above keepAliveTimeout, so an idle socket is never cut as a slow request.
  server.headersTimeout = server.keepAliveTimeout + 1000;
  server.on('clientError', (error: Error, socket: Duplex) => problems.answerClientError(error, socket));
  app.use(
    installRequestDeadline(server, config.requestTimeoutSeconds * 1000, (error, socket) =>
      problems.answerClientError(error, socket),
    ),
  );
  app.use(securityHeaders());
  if (config.corsOrigins.length > 0) {
    app.enableCors({
      origin: config.corsOrigins,
      exposedHeaders: ['X-Request-Id', 'ETag', 'Location', 'Retry-After'],
      maxAge: 600,
    });
  }
  app.useBodyParser('json', { limit: BODY_LIMIT });
  app.use(refuseUnsafeJsonBodies);
  app.setGlobalPrefix('api', {
    exclude: [
      { path: 'health/live', method: RequestMethod.GET },
      { path: 'health/ready', method: RequestMethod.GET },
      { path: 'agent/*path', method: RequestMethod.GET },
      { path: 'metrics', method: RequestMethod.GET },
      { path: 'console/*path', method: RequestMethod.GET },
    ],
  });
  app.enableVersioning({ type: VersioningType.URI });
  app.useGlobalGuards(new MediaTypeGuard(app.get(Reflector)));
  app.useGlobalPipes(createValidationPipe());
  app.useGlobalFilters(problems);
  setupSwagger(app);
  await app.init();
  // The dashboard (apps/web) at /, after every api route so it can never shadow one.
  app.use(dashboard(findWebBuild()));
  // Nest's own 404 handler covers only /api; this answers every other unknown path alike.
  app.use((req: Request, res: Response) => problems.send(new NotFoundException(), req, res));
  return app;
}
