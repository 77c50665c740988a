import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(180_000);

const SPEC = JSON.parse(readFileSync(join(__dirname, '..', 'docs', 'openapi.json'), 'utf8')) as {
  components: { schemas: Record<string, Record<string, unknown>> };
};

/** Every `example` and `examples` value in the document, with the schema it illustrates. */
function examplesOf(document: unknown): Array<{ where: string; schema: object; value: unknown }> {
  const found: Array<{ where: string; schema: object; value: unknown }> = [];
  const walk = (node: unknown, where: string): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach((item, index) => walk(item, `${where}/${index}`));
    const object = node as Record<string, unknown>;
    // A media type or a parameter: its examples illustrate its schema.
    if (object.schema && typeof object.schema === 'object') {
      if ('example' in object)
        found.push({ where: `${where}/example`, schema: object.schema as object, value: object.example });
      for (const [name, example] of Object.entries((object.examples as Record<string, { value: unknown }>) ?? {}))
        found.push({ where: `${where}/examples/${name}`, schema: object.schema as object, value: example.value });
    } else if (
      'example' in object &&
      ['type', '$ref', 'allOf', 'oneOf', 'anyOf', 'properties', 'enum'].some((keyword) => keyword in object)
    ) {
      // A schema: its own example illustrates itself.
      const { example, ...schema } = object;
      found.push({ where: `${where}/example`, schema, value: example });
    }
    for (const [key, value] of Object.entries(object))
      if (key !== 'example' && key !== 'examples') walk(value, `${where}/${key}`);
  };
  walk(document, '#');
  return found;
}

function compiler() {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'openapi.json', components: SPEC.components });
  const rebase = (schema: object) =>
    JSON.parse(JSON.stringify(schema).replace(/"\$ref":"#\//g, '"$ref":"openapi.json#/'));
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
        const username = compile(
          (SPEC.components.schemas[dto] as { properties: Record<string, object> }).properties.username,
        );
        expect([dto, username('Carol.Smith'), username('carol'), username('no spaces'), username('ab')]).toEqual([
          dto,
          true,
          true,
          false,
          false,
        ]);
      }
      const admin = await login(t.http, ADMIN.username, ADMIN.password);
      const created = await request(t.http)
        .post('/api/v1/users')
        .auth(admin.accessToken, { type: 'bearer' })
        .send({ username: 'Carol.Smith', password: 'carol-password-123' })
        .expect(201);
      expect(created.body.username).toBe('carol.smith');
      await request(t.http)
        .post('/api/v1/auth/login')
        .send({ username: 'CAROL.SMITH', password: 'carol-password-123' })
        .expect(200);
    });
  });
});

// ---------------------------------------------------------------------------------------------

interface MediaType {
  schema?: Record<string, unknown>;
  example?: unknown;
  examples?: Record<string, { summary?: string; description?: string; value: unknown }>;
}
type SpecOperation = { requestBody?: { content: Record<string, MediaType> } };

/** A `$ref` of the document, followed. */
function deref(schema: Record<string, unknown>): Record<string, unknown> {
  const ref = schema.$ref as string | undefined;
  return ref ? deref(SPEC.components.schemas[ref.split('/').pop()!]) : schema;
}

/**
 * The example Swagger UI shows (and its "Try it out" sends) for a schema without one of its own:
 * every property, from its example, default or first enum value, else a type placeholder.
 */
function composedExample(input: Record<string, unknown>): unknown {
  const schema = deref(input);
  if ('example' in schema) return schema.example;
  if ('default' in schema) return schema.default;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (Array.isArray(schema.allOf)) return composedExample(schema.allOf[0] as Record<string, unknown>);
  for (const keyword of ['oneOf', 'anyOf']) {
    const alternatives = (schema[keyword] as Array<Record<string, unknown>> | undefined)?.filter(
      (alternative) => alternative.type !== 'null',
    );
    if (alternatives?.length) return composedExample(alternatives[0]);
  }
  // OpenAPI 3.1 `type: [T, "null"]`: the example is a T.
  if (Array.isArray(schema.type))
    return composedExample({ ...schema, type: schema.type.find((type) => type !== 'null') });
  if (schema.type === 'object' || schema.properties) {
    return Object.fromEntries(
      Object.entries((schema.properties as Record<string, Record<string, unknown>>) ?? {}).map(([name, property]) => [
        name,
        composedExample(property),
      ]),
    );
  }
  if (schema.type === 'array') return [composedExample((schema.items as Record<string, unknown>) ?? {})];
  if (schema.type === 'integer' || schema.type === 'number') return 0;
  if (schema.type === 'boolean') return true;
  if (schema.format === 'date-time') return new Date().toISOString();
  if (schema.format === 'uuid') return '3fa85f64-5717-4562-b3fc-2c963f66afa6';
  return 'string';
}

/** Every request example of every operation that reads JSON: its own examples, or the one Swagger UI composes. */
function requestExamples(): Array<{ method: string; path: string; name: string; documents: string; value: unknown }> {
  const spec = SPEC as unknown as { paths: Record<string, Record<string, SpecOperation>> };
  return Object.entries(spec.paths).flatMap(([path, item]) =>
    Object.entries(item).flatMap(([method, op]) => {
      const media = op.requestBody?.content['application/json'];
      if (!media) return [];
      if (media.examples)
        return Object.entries(media.examples).map(([name, example]) => ({
          method,
          path,
          name,
          documents: example.description ?? '',
          value: example.value,
        }));
      if ('example' in media) return [{ method, path, name: 'example', documents: '', value: media.example }];
      return [{ method, path, name: 'composed', documents: '', value: composedExample(media.schema ?? {}) }];
    }),
  );
}

describe('contract 12.12: request examples sent as they are (e2e)', () => {
  let t: TestApp;
  let token: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    t = await startTestApp({ REGISTRATION: 'open' });
    token = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    const api = () => request(t.http);
    const auth = { Authorization: `Bearer ${token}` };
    const images = await api().get('/api/v1/images').set(auth).expect(200);
    const imageId = images.body.items.find((i: { name: string }) => i.name === KERNEL_IMAGE_NAME).id as string;
    const vm = await api()
      .post('/api/v1/vms')
      .set(auth)
      .send({ name: 'fixture', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start: false })
      .expect(202);
    await api().get(`${vm.headers.location}/wait?timeout=60`).set(auth).expect(200);
    ids.vm = vm.body.vm.id;
    ids.disk = (await api().get(`/api/v1/vms/${ids.vm}/disks`).set(auth).expect(200)).body.items[0].id;
    ids.image = imageId;
    ids.schedule = (
      await api()
        .post(`/api/v1/vms/${ids.vm}/schedules`)
        .set(auth)
        .send({ kind: 'snapshot', cron: '0 3 * * *', enabled: false })
        .expect(201)
    ).body.id;
    const backup = await api().post(`/api/v1/vms/${ids.vm}/backups`).set(auth).send({}).expect(202);
    await api().get(`${backup.headers.location}/wait?timeout=60`).set(auth).expect(200);
    ids.backup = backup.body.backup.id;
    ids.user = (
      await api()
        .post('/api/v1/users')
        .set(auth)
        .send({ username: 'fixture-user', password: 'fixture-password-123' })
        .expect(201)
    ).body.id;
    ids.host = (await api().get('/api/v1/hosts').set(auth).expect(200)).body.items[0].id;
    ids.rule = (
      await api()
        .post('/api/v1/alert-rules')
        .set(auth)
        .send({ name: 'fixture rule', metric: 'host.disk.percent', comparator: '>=', threshold: 101, enabled: false })
        .expect(201)
    ).body.id;
    ids.channel = (
      await api().post('/api/v1/alert-channels').set(auth).send({ name: 'fixture channel', type: 'log' }).expect(201)
    ).body.id;
    ids.alert = (
      await t.app
        .get(DataSource)
        .query(
          `INSERT INTO alerts (rule_id, subject, state, value, pending_since, fired_at) VALUES ($1, '', 'firing', 101, now(), now()) RETURNING id`,
          [ids.rule],
        )
    )[0].id;
  });

  afterAll(async () => {
    if (t) {
      // What the qemu-direct host example makes on this machine.
      for (const { stateDir } of await t.app
        .get(DataSource)
        .query(`SELECT state_dir AS "stateDir" FROM hosts WHERE adapter = 'qemu-direct'`))
        rmSync(stateDir, { recursive: true, force: true });
      // The network example defines a libvirt network on this machine.
      for (const { id } of await t.app.get(DataSource).query(`SELECT id FROM networks WHERE kind = 'isolated'`))
        await request(t.http).delete(`/api/v1/networks/${id}`).set('Authorization', `Bearer ${token}`);
      for (const { id } of await t.app.get(DataSource).query(`SELECT id FROM vms`)) {
        virsh('destroy', `limen-${id}`);
        virsh('undefine', `limen-${id}`, '--snapshots-metadata');
      }
      await t.close();
    }
  });

  /** The fixture a path parameter names: /vms/{id} → the VM, /users/{id}/quota → the user, /vms/{vmId}/disks/{diskId} → the VM's boot disk, …/schedules/{scheduleId} → its schedule, /backups/{id} → its backup, /images/{id} → the kernel image. */
  function fill(path: string): string {
    return path.replace(/\/([a-z-]+)\/\{(\w+)\}/g, (_, collection: string) => {
      const kind = (
        {
          vms: 'vm',
          disks: 'disk',
          images: 'image',
          schedules: 'schedule',
          backups: 'backup',
          users: 'user',
          hosts: 'host',
          'alert-rules': 'rule',
          'alert-channels': 'channel',
          alerts: 'alert',
        } as Record<string, string>
      )[collection];
      return `/${collection}/${ids[kind]}`;
    });
  }

  it('contract 12.12: each is accepted, or refused only for what its description says', async () => {
    const examples = requestExamples();
    expect(examples.length).toBeGreaterThan(15);
    const undocumented: string[] = [];
    for (const example of examples) {
      const res = await request(t.http)
        [example.method as 'post'](fill(example.path))
        .set('Authorization', `Bearer ${token}`)
        .send(example.value as object);
      // Let an accepted operation finish, so the next example meets the VM idle.
      if (res.status === 202 && res.headers.location)
        await request(t.http).get(`${res.headers.location}/wait?timeout=60`).set('Authorization', `Bearer ${token}`);
      if (res.status < 400) continue;
      const reasons: string[] = [res.body.code, ...(res.body.errors ?? []).map((e: { field: string }) => e.field)];
      const documented = res.body.errors?.length
        ? reasons.slice(1).every((field) => example.documents.includes(`\`${field}\``))
        : example.documents.includes(`\`${res.body.code}\``);
      if (!documented)
        undocumented.push(
          `${example.method.toUpperCase()} ${example.path} (${example.name}) ${JSON.stringify(example.value)} -> ${res.status} ${res.body.code} ${JSON.stringify(res.body.errors ?? res.body.detail)}`,
        );
    }
    expect(undocumented).toEqual([]);
  });
});
