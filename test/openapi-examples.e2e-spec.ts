import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { ADMIN, login, startTestApp, TestApp } from './support/test-app';

const SPEC = JSON.parse(readFileSync(join(__dirname, '..', 'docs', 'openapi.json'), 'utf8')) as { components: { schemas: Record<string, Record<string, unknown>> } };

/** Every `example` and `examples` value in the document, with the schema it illustrates. */
function examplesOf(document: unknown): Array<{ where: string; schema: object; value: unknown }> {
  const found: Array<{ where: string; schema: object; value: unknown }> = [];
  const walk = (node: unknown, where: string): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach((item, index) => walk(item, `${where}/${index}`));
    const object = node as Record<string, unknown>;
    // A media type or a parameter: its examples illustrate its schema.
    if (object.schema && typeof object.schema === 'object') {
      if ('example' in object) found.push({ where: `${where}/example`, schema: object.schema as object, value: object.example });
      for (const [name, example] of Object.entries((object.examples as Record<string, { value: unknown }>) ?? {})) found.push({ where: `${where}/examples/${name}`, schema: object.schema as object, value: example.value });
    } else if ('example' in object && ['type', '$ref', 'allOf', 'oneOf', 'anyOf', 'properties', 'enum'].some((keyword) => keyword in object)) {
      // A schema: its own example illustrates itself.
      const { example, ...schema } = object;
      found.push({ where: `${where}/example`, schema, value: example });
    }
    for (const [key, value] of Object.entries(object)) if (key !== 'example' && key !== 'examples') walk(value, `${where}/${key}`);
  };
  walk(document, '#');
  return found;
}

function compiler() {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'openapi.json', components: SPEC.components });
  const rebase = (schema: object) => JSON.parse(JSON.stringify(schema).replace(/"\$ref":"#\//g, '"$ref":"openapi.json#/'));
  return { ajv, compile: (schema: object) => ajv.compile(rebase(schema)) };
}

describe('OpenAPI examples and schemas (e2e)', () => {
  it('contract 12.12: every example in docs/openapi.json is valid against its own schema', () => {
    const { ajv, compile } = compiler();
    const examples = examplesOf(SPEC);
    expect(examples.length).toBeGreaterThan(100);
    const invalid = examples.flatMap(({ where, schema, value }) => {
      const validate = compile(schema);
      return validate(value) ? [] : [`${where}: ${JSON.stringify(value)} ${ajv.errorsText(validate.errors)}`];
    });
    expect(invalid).toEqual([]);
  });

  describe('contract 12.13: usernames', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp();
    });
    afterAll(() => t.close());

    it('contract 12.13: the spec accepts an upper-case username, as the server does, which stores it lower-cased', async () => {
      const { compile } = compiler();
      for (const dto of ['LoginDto', 'RegisterDto', 'CreateUserDto']) {
        const username = compile((SPEC.components.schemas[dto] as { properties: Record<string, object> }).properties.username);
        expect([dto, username('Carol.Smith'), username('carol'), username('no spaces'), username('ab')]).toEqual([dto, true, true, false, false]);
      }
      const admin = await login(t.http, ADMIN.username, ADMIN.password);
      const created = await request(t.http).post('/api/v1/users').auth(admin.accessToken, { type: 'bearer' }).send({ username: 'Carol.Smith', password: 'carol-password-123' }).expect(201);
      expect(created.body.username).toBe('carol.smith');
      await request(t.http).post('/api/v1/auth/login').send({ username: 'CAROL.SMITH', password: 'carol-password-123' }).expect(200);
    });
  });
});
