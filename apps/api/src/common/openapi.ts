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
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .build();
  const document = declareUnsupportedMediaType(SwaggerModule.createDocument(app, config, { extraModels: [ProblemDto] }));
  completeResponses(document);
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
