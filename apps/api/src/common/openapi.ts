import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE } from './problem';
import { completeResponses } from './openapi-responses';
import { ProblemDto } from './problem.dto';

/** The OpenAPI document, built from the controllers and DTOs (with the swagger CLI plugin). */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('LIMEN API')
    .setDescription(
      'Control plane for KVM/QEMU virtual machines. Errors are RFC 9457 application/problem+json with a stable `code`. ' +
        'Lists use cursor pagination: `{items, nextCursor}`, `limit` 1-500 (default 50).',
    )
    .setVersion('1')
    // 3.1: nullable members are real JSON Schema `null` types, which every validator understands.
    .setOpenAPIVersion('3.1.0')
    .setLicense('MIT', 'https://opensource.org/licenses/MIT')
    // Relative: the spec describes whichever server serves it (/docs-json), behind any proxy.
    .addServer('/', 'This LIMEN server')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .build();
  const document = declarePublicRoutes(declareUnsupportedMediaType(SwaggerModule.createDocument(app, config, { extraModels: [ProblemDto] })));
  completeResponses(document);
  return document;
}

/**
 * Controllers declare their bearer auth (@ApiBearerAuth); an operation without it is one of the
 * @Public() routes (sign-in, health), and says so with an empty requirement rather than by omission.
 * The openapi e2e test holds each such route to answering without a token.
 */
function declarePublicRoutes(document: OpenAPIObject): OpenAPIObject {
  for (const item of Object.values(document.paths)) {
    for (const operation of [item.get, item.put, item.post, item.delete, item.patch]) {
      if (operation && !operation.security) operation.security = [];
    }
  }
  return document;
}

/** Every operation that reads a body may answer 415 (MediaTypeGuard): its body has another media type. */
function declareUnsupportedMediaType(document: OpenAPIObject): OpenAPIObject {
  for (const item of Object.values(document.paths)) {
    for (const operation of [item.get, item.put, item.post, item.delete, item.patch]) {
      const body = operation?.requestBody;
      if (!operation || !body || !('content' in body)) continue;
      operation.responses['415'] = {
        description: `UNSUPPORTED_MEDIA_TYPE: the body is not ${Object.keys(body.content).join(' or ')}`,
        content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/ProblemDto' } } },
      };
    }
  }
  return document;
}

/** Swagger UI at /docs and the JSON spec at /docs-json. */
export function setupSwagger(app: INestApplication): void {
  SwaggerModule.setup('docs', app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
    swaggerOptions: { persistAuthorization: true },
  });
}
