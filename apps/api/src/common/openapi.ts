import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE } from './problem';
import { problemResponse } from './api-problems.decorator';
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
    .addBearerAuth({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT or API token',
      description:
        "A session's access token (POST /api/v1/auth/login) or a personal API token (`limen_pat_…`, POST /api/v1/tokens)",
    })
    .build();
  const document = describeRequestDefaults(
    declareInsufficientScope(
      declarePublicRoutes(
        declareUnsupportedMediaType(SwaggerModule.createDocument(app, config, { extraModels: [ProblemDto] })),
      ),
    ),
  );
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

/**
 * Every route that takes a bearer credential may answer 403 INSUFFICIENT_SCOPE (ScopeGuard): an
 * API token lacks the route's scope, or the route is closed to tokens.
 */
function declareInsufficientScope(document: OpenAPIObject): OpenAPIObject {
  for (const item of Object.values(document.paths)) {
    for (const operation of [item.get, item.put, item.post, item.delete, item.patch]) {
      if (operation?.security?.length) operation.responses['403'] ??= problemResponse(403);
    }
  }
  return document;
}

/**
 * A request member's server-side default goes into its description instead of `default`: generated
 * clients (openapi-typescript with its default options) read `default` as "always present" and
 * would demand the member in every request, although the server fills it in when it is left out.
 * It stays the member's example, so Swagger UI still shows it.
 */
function describeRequestDefaults(document: OpenAPIObject): OpenAPIObject {
  const schemas = (document.components?.schemas ?? {}) as Record<
    string,
    { properties?: Record<string, { default?: unknown; example?: unknown; description?: string }> }
  >;
  const pending = Object.values(document.paths).flatMap((item) =>
    [item.get, item.put, item.post, item.delete, item.patch].flatMap((operation) => {
      const body = operation?.requestBody;
      const schema = body && 'content' in body ? body.content['application/json']?.schema : undefined;
      return schema && '$ref' in schema ? [schema.$ref] : [];
    }),
  );
  const seen = new Set<string>();
  while (pending.length) {
    const name = pending.pop()!.split('/').pop()!;
    if (seen.has(name) || !schemas[name]) continue;
    seen.add(name);
    for (const property of Object.values(schemas[name].properties ?? {})) {
      pending.push(...(JSON.stringify(property).match(/#\/components\/schemas\/[\w-]+/g) ?? []));
      if (!('default' in property)) continue;
      const stated = `Default: \`${JSON.stringify(property.default)}\`.`;
      property.description = property.description ? `${property.description} ${stated}` : stated;
      // Swagger UI's composed example keeps showing (and sending) the default.
      if (!('example' in property)) property.example = property.default;
      delete property.default;
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
