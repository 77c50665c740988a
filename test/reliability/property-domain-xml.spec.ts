import fc from 'fast-check';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { buildDomainXml } from '@limen/libvirt/xml/domain-xml-builder';
import { machineFamily, ParsedDomain, parseDomainXml } from '@limen/libvirt/xml/domain-xml-parser';
import { childOf, parseXml, textOf } from '@limen/libvirt/xml/xml-codec';
import { AppConfig, HypervisorConfig } from '../../apps/api/src/config/app-config';
import { AppException, ErrorCode } from '../../apps/api/src/common/problem';
import { FREE_TEXT } from '../../apps/api/src/common/free-text';
import { createValidationPipe } from '../../apps/api/src/common/validation';
import { Image } from '../../apps/api/src/images/image.entity';
import { kernelFiles } from '../../apps/api/src/images/image-scanner';
import { CreateVmDto, VM_NAME } from '../../apps/api/src/vms/dto/create-vm.dto';
import { BOOT_DEVICES, UpdateVmDto } from '../../apps/api/src/vms/dto/update-vm.dto';
import { domainSpecFor, ImagesOnHost } from '../../apps/api/src/vms/vm-domain-spec';
import { VmFiles } from '../../apps/api/src/vms/vm-files';
import { Vm } from '../../apps/api/src/vms/vm.entity';
import { newVmFields } from '../../apps/api/src/vms/vms.service';
import { asJsonBody, hostileKey, hostileString, wrongTypeValue } from '../support/hostile-input';
import { KERNEL_IMAGE_NAME, LIBVIRT_URI } from '../support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from '../support/test-app';

/**
 * Property: every create (and XML-reaching update) request the API's own validation accepts
 * becomes domain XML that libvirt accepts (`virsh define --validate` under a scratch name) and
 * that reads back (`virsh dumpxml` → the library's parser) as exactly what was asked for; every
 * request it refuses is refused as a 400 VALIDATION_FAILED, over HTTP too, creating nothing.
 *
 * fast-check prints the seed and the shrunk counterexample of any failure; replay one with
 * FC_SEED=<seed> (and FC_PATH=<path>).
 */

const RUNS = Number(process.env.FC_RUNS ?? 150);
function fcParams<T>(numRuns: number): fc.Parameters<T> {
  return {
    numRuns,
    ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH } : {}),
    // Shrinking a failure re-runs real libvirt calls: bound the whole run in time.
    interruptAfterTimeLimit: 240_000,
  };
}

/** Scratch domains are `limen-prop-<run>-<n>`: recognisable, and never a real VM's uuid. */
const RUN = `prop-${randomBytes(4).toString('hex')}`;
const SCRATCH_ROOT = join('/var/lib/limen/e2e', `${RUN}-${process.pid}`);

interface VirshResult {
  code: number;
  stdout: string;
  stderr: string;
}

function virshOnce(args: string[]): Promise<VirshResult> {
  return new Promise((resolve) => {
    execFile(
      'virsh',
      ['-c', LIBVIRT_URI, ...args],
      { encoding: 'utf8', timeout: 90_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : -1) : 0,
          stdout,
          stderr: stderr || (error ? error.message : ''),
        }),
    );
  });
}

/** Lost connections mean libvirtd restarted (other suites restart it); they say nothing about the XML. */
const CONNECTION_LOST =
  /failed to connect to the hypervisor|Disconnected from|End of file while reading|Cannot recv data|Connection reset|Broken pipe/i;

async function virsh(args: string[], beforeRetry?: () => Promise<unknown>): Promise<VirshResult> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const result = await virshOnce(args);
    if (result.code === 0 || !CONNECTION_LOST.test(result.stderr) || Date.now() > deadline) return result;
    await new Promise((r) => setTimeout(r, 1_000));
    await beforeRetry?.();
  }
}

const defined = new Set<string>();

async function undefine(name: string): Promise<void> {
  const result = await virsh(['undefine', name]);
  if (result.code !== 0 && !/failed to get domain|Domain not found/i.test(result.stderr))
    throw new Error(`virsh undefine ${name}: ${result.stderr}`);
  defined.delete(name);
}

/** `virsh define --validate` (what the adapter runs) and `dumpxml --inactive`, parsed by the library. */
async function defineAndReadBack(
  name: string,
  xml: string,
  redefine = false,
): Promise<{ parsed: ParsedDomain; xml: string }> {
  const file = join(SCRATCH_ROOT, `${name}.xml`);
  writeFileSync(file, xml);
  defined.add(name);
  // A first define whose answer was lost may still have happened (and a second one, without a
  // uuid, would then clash): retry it from a clean slate. A redefine carries the uuid, so it repeats.
  const result = await virsh(['define', '--validate', file], redefine ? undefined : () => virsh(['undefine', name]));
  if (result.code !== 0)
    throw new Error(`libvirt refused the XML built from an accepted request: ${result.stderr.trim()}\n${xml}`);
  const dumped = await virsh(['dumpxml', '--inactive', name]);
  if (dumped.code !== 0) throw new Error(`virsh dumpxml ${name}: ${dumped.stderr}`);
  return { parsed: parseDomainXml(dumped.stdout), xml: dumped.stdout };
}

// ---------------------------------------------------------------------------------------------
// Requests: every field valid, hostile, of the wrong type or missing, plus smuggled members.
// ---------------------------------------------------------------------------------------------

/** Leaves a member out of the JSON (`undefined` vanishes in asJsonBody). */
const absent = fc.constant(undefined);

function integerField(min: number, max: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min, max }) },
    { weight: 2, arbitrary: fc.constantFrom(min, max, min - 1, max + 1, 0, -1, 2 ** 31, min + 0.5) },
    { weight: 1, arbitrary: wrongTypeValue },
  );
}

const validVmName = fc.stringMatching(VM_NAME);
const nameField = fc.oneof(
  { weight: 8, arbitrary: validVmName },
  { weight: 2, arbitrary: hostileString(80) },
  { weight: 1, arbitrary: wrongTypeValue },
);

/** Descriptions carry the user's free text into `<description>`: the main target. */
const descriptionField = fc.oneof(
  { weight: 3, arbitrary: absent },
  { weight: 6, arbitrary: hostileString(1024) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 1024 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      '   leading and trailing   ',
      'a\r\nb',
      'x'.repeat(1024),
      'x'.repeat(1025),
      '\u{1f600}'.repeat(512),
      '\u{1f600}'.repeat(513),
    ),
  },
  { weight: 1, arbitrary: wrongTypeValue },
);

const validHostname = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
const validSshKey = fc
  .tuple(
    fc.constantFrom('ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'sk-ssh-ed25519@openssh.com'),
    fc.base64String({ minLength: 4, maxLength: 80 }),
    fc.option(
      fc.string({ maxLength: 40 }).filter((c) => !/[\r\n]/.test(c)),
      { nil: undefined },
    ),
  )
  .map(([type, key, comment]) => (comment === undefined ? `${type} ${key}` : `${type} ${key} ${comment}`));

const cloudInitField = fc.oneof(
  { weight: 6, arbitrary: absent },
  {
    weight: 3,
    arbitrary: fc.record(
      {
        hostname: fc.oneof(validHostname, hostileString(80), wrongTypeValue),
        sshAuthorizedKeys: fc.oneof(
          fc.array(fc.oneof({ weight: 4, arbitrary: validSshKey }, { weight: 1, arbitrary: hostileString(200) }), {
            maxLength: 4,
          }),
          wrongTypeValue,
        ),
        userData: fc.oneof(
          fc.constantFrom('#cloud-config\npackages: [nginx]\n', '#!/bin/sh\necho hi\n'),
          hostileString(2000),
          wrongTypeValue,
        ),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: wrongTypeValue },
);

type ImageChoice = 'kernel' | 'disk' | 'iso' | 'unknown' | 'hostile';

/** A create body before JSON serialisation; `imageId` is resolved once the images exist. */
const anyCreateRequest = fc.record({
  name: fc.oneof({ weight: 20, arbitrary: nameField }, { weight: 1, arbitrary: absent }),
  vcpus: fc.oneof({ weight: 20, arbitrary: integerField(1, 64) }, { weight: 1, arbitrary: absent }),
  memoryMiB: fc.oneof({ weight: 20, arbitrary: integerField(64, 1_048_576) }, { weight: 1, arbitrary: absent }),
  diskGiB: fc.oneof({ weight: 20, arbitrary: integerField(1, 65_536) }, { weight: 1, arbitrary: absent }),
  image: fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom<ImageChoice>('kernel', 'disk', 'iso') },
    { weight: 1, arbitrary: fc.constantFrom<ImageChoice>('unknown', 'hostile') },
  ),
  hostileImageId: wrongTypeValue,
  description: descriptionField,
  start: fc.oneof(
    { weight: 4, arbitrary: absent },
    { weight: 4, arbitrary: fc.boolean() },
    { weight: 1, arbitrary: wrongTypeValue },
  ),
  hostId: fc.oneof(
    { weight: 12, arbitrary: absent },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: hostileString(60) },
  ),
  cloudInit: cloudInitField,
  /** Members the DTO does not have, including prototype-pollution keys: must be refused. */
  extra: fc.oneof(
    { weight: 10, arbitrary: fc.constant([] as Array<[string, unknown]>) },
    { weight: 1, arbitrary: fc.array(fc.tuple(hostileKey, fc.jsonValue()), { minLength: 1, maxLength: 2 }) },
  ),
});
type CreateRequest = typeof anyCreateRequest extends fc.Arbitrary<infer T> ? T : never;

/** Mostly well-formed requests (so many reach libvirt) with hostile free text, mixed with anything. */
const createRequest: fc.Arbitrary<CreateRequest> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      name: validVmName,
      vcpus: fc.integer({ min: 1, max: 64 }),
      memoryMiB: fc.integer({ min: 64, max: 1_048_576 }),
      diskGiB: fc.integer({ min: 1, max: 65_536 }),
      image: fc.constantFrom<ImageChoice>('kernel', 'disk', 'iso'),
      hostileImageId: fc.constant(undefined),
      description: descriptionField,
      start: fc.option(fc.boolean(), { nil: undefined }),
      hostId: absent,
      cloudInit: fc.oneof({ weight: 2, arbitrary: absent }, { weight: 1, arbitrary: cloudInitField }),
      extra: fc.constant([] as Array<[string, unknown]>),
    }),
  },
  { weight: 2, arbitrary: anyCreateRequest },
);

const bootOrderField = fc.oneof(
  { weight: 6, arbitrary: fc.shuffledSubarray([...BOOT_DEVICES], { minLength: 1 }) },
  {
    weight: 1,
    arbitrary: fc.array(fc.oneof(fc.constantFrom<string>(...BOOT_DEVICES, 'fd', 'HD', '', 'hd '), hostileString(20)), {
      maxLength: 5,
    }),
  },
  { weight: 1, arbitrary: wrongTypeValue },
);

const updateRequest = fc.record(
  {
    vcpus: integerField(1, 64),
    memoryMiB: integerField(64, 1_048_576),
    description: descriptionField,
    bootOrder: bootOrderField,
    extra: fc.oneof(
      { weight: 10, arbitrary: fc.constant([] as Array<[string, unknown]>) },
      { weight: 1, arbitrary: fc.array(fc.tuple(hostileKey, fc.jsonValue()), { minLength: 1, maxLength: 2 }) },
    ),
  },
  { requiredKeys: ['bootOrder', 'extra'] },
);

function withExtraMembers(body: Record<string, unknown>, extra: Array<[string, unknown]>): Record<string, unknown> {
  // defineProperty keeps `__proto__` an own member, as JSON.parse (body-parser) makes it.
  for (const [key, value] of extra)
    Object.defineProperty(body, key, { value, enumerable: true, configurable: true, writable: true });
  return body;
}

// ---------------------------------------------------------------------------------------------

type Validated<T> = { accepted: true; dto: T } | { accepted: false; error: AppException };

const pipe = createValidationPipe();

/** The app's global ValidationPipe, as it runs on a `@Body()`: refusals must be VALIDATION_FAILED and nothing else. */
async function validate<T>(metatype: new () => T, body: unknown): Promise<Validated<T>> {
  try {
    return { accepted: true, dto: (await pipe.transform(body, { type: 'body', metatype, data: undefined })) as T };
  } catch (error) {
    if (!(error instanceof AppException))
      throw new Error(`validation threw ${String(error)} instead of a VALIDATION_FAILED problem`);
    expect(error.getStatus()).toBe(400);
    expect(error.code).toBe(ErrorCode.VALIDATION_FAILED);
    expect((error.extra.errors as unknown[]).length).toBeGreaterThan(0);
    return { accepted: false, error };
  }
}

describe('property: accepted VM requests become domain XML libvirt accepts and that round-trips', () => {
  let t: TestApp;
  let config: HypervisorConfig;
  let images: Record<'kernel' | 'disk' | 'iso', Image>;
  let ownerId: string;
  let alice: { id: string; accessToken: string };
  let db: DataSource;
  let sequence = 0;
  const stats = {
    createAccepted: 0,
    createRejected: 0,
    serviceRejected: 0,
    updatesRedefined: 0,
    updatesRejected: 0,
    httpRejected: 0,
    httpAccepted: 0,
  };

  beforeAll(async () => {
    // The reconciler must not sweep in the middle of the HTTP sample; the scratch domains live
    // outside the app's VM_DIR, so its orphan sweep never considers them anyway.
    t = await startTestApp({ RECONCILE_INTERVAL_SECONDS: '3600', DEFAULT_QUOTA_VMS: '3' });
    db = t.app.get(DataSource);
    mkdirSync(join(SCRATCH_ROOT, 'vms'), { recursive: true, mode: 0o755 });
    // A disk and an ISO image beside the test guest's kernel image, so every image kind is built.
    const imageDir = t.data.sandbox.imageDir;
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(imageDir, 'prop-disk.qcow2'), '16M']);
    writeFileSync(join(imageDir, 'prop-media.iso'), Buffer.alloc(0));
    const admin = await login(t.http, ADMIN.username, ADMIN.password);
    await request(t.http).post('/api/v1/images/rescan').auth(admin.accessToken, { type: 'bearer' }).expect(200);
    const all = await db.getRepository(Image).find();
    const byName = (name: string) => all.find((i) => i.name === name)!;
    images = { kernel: byName(KERNEL_IMAGE_NAME), disk: byName('prop-disk.qcow2'), iso: byName('prop-media.iso') };
    expect([images.kernel.kind, images.disk.kind, images.iso.kind]).toEqual(['kernel', 'disk', 'iso']);
    // The app's own hypervisor settings, with VM_DIR moved to a scratch folder nothing sweeps.
    config = { ...t.app.get(AppConfig).hypervisor, vmDir: join(SCRATCH_ROOT, 'vms') };
    ownerId = randomUUID();
    alice = await createUser(t.http, admin.accessToken, 'alice');
  }, 120_000);

  afterAll(async () => {
    // Nothing scratch survives, even after a failure or an interrupted run.
    const listed = await virsh(['list', '--all', '--name']);
    const leftovers = new Set([
      ...defined,
      ...listed.stdout
        .split('\n')
        .map((l) => l.trim())
        .filter((n) => n.startsWith(`limen-${RUN}-`)),
    ]);
    for (const name of leftovers) await undefine(name).catch(() => undefined);
    rmSync(SCRATCH_ROOT, { recursive: true, force: true });
    const ids: Array<{ id: string }> = (await db?.query(`SELECT id FROM vms`)) ?? [];
    for (const { id } of ids) {
      await virsh(['destroy', `limen-${id}`]);
      await virsh(['undefine', `limen-${id}`]);
    }
    await t?.close();
    console.log(`property-domain-xml: ${JSON.stringify(stats)}`);
  }, 300_000);

  /** Long-polls an operation (60 s per call, the API's maximum) until it ends. */
  async function waitOperation(location: string): Promise<{ status: string; error: unknown }> {
    for (;;) {
      const res = await request(t.http)
        .get(`${location}/wait?timeout=60`)
        .auth(alice.accessToken, { type: 'bearer' })
        .expect(200);
      if (!['pending', 'running'].includes(res.body.status)) return res.body;
    }
  }

  function createBody(req: CreateRequest): Record<string, unknown> {
    const imageId =
      req.image === 'unknown' ? randomUUID() : req.image === 'hostile' ? req.hostileImageId : images[req.image].id;
    const { extra, image: _image, hostileImageId: _hostile, ...fields } = req;
    return withExtraMembers({ ...fields, imageId }, extra);
  }

  /** The row VmsService.create writes for an accepted request. */
  /** One disk, its seed and its serial log in a folder of the VM's own (ids here are not UUIDs, so no pool names). */
  function filesOf(vm: Vm): VmFiles {
    const folder = join(config.vmDir, vm.id);
    return {
      disks: [{ path: join(folder, 'disk.qcow2'), format: 'qcow2' }],
      seedIsoPath: join(folder, 'seed.iso'),
      serialLogPath: join(folder, 'serial.log'),
    };
  }

  function vmRowFor(dto: CreateVmDto, image: Image, id: string): Vm {
    return Object.assign(new Vm(), { id, ...newVmFields(dto, image, ownerId, null) });
  }

  /** What the domain must say, derived from the row and the image, not from the spec builder. */
  function expectDomainMatches(
    got: { parsed: ParsedDomain; xml: string },
    vm: Vm,
    image: Image,
    withSeed: boolean,
    vmDir: string,
    /** `pool`: the api's layout (files flat in the VM pool, named by ids); `folder`: filesOf's, for rows whose ids are not UUIDs. */
    layout: 'pool' | 'folder',
    expectedUuid?: string,
  ): void {
    const { parsed } = got;
    // In the pool layout the boot disk's id (its alias) names its volume and gives its serial.
    const bootDiskId = parsed.disks[0]?.id ?? '';
    if (layout === 'pool') expect(bootDiskId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const folder = join(vmDir, vm.id);
    const files =
      layout === 'pool'
        ? {
            disk: join(vmDir, `${vm.id}-disk-${bootDiskId}.qcow2`),
            seedIso: join(vmDir, `${vm.id}-seed.iso`),
            serialLog: join(vmDir, `${vm.id}-serial.log`),
          }
        : {
            disk: join(folder, 'disk.qcow2'),
            seedIso: join(folder, 'seed.iso'),
            serialLog: join(folder, 'serial.log'),
          };
    const iso = image.kind === 'iso' ? image.path : undefined;
    expect(parsed.name).toBe(`limen-${vm.id}`);
    if (expectedUuid) expect(parsed.uuid).toBe(expectedUuid);
    expect(parsed.metadata).toEqual({
      vmId: vm.id,
      ownerId: vm.ownerId,
      ...(withSeed ? { seedIsoPath: files.seedIso } : {}),
    });
    expect(parsed.title).toBe(vm.name);
    // An empty description is no description at all in libvirt.
    expect(parsed.description ?? '').toBe(vm.description);
    expect({
      vcpus: parsed.vcpus,
      maxVcpus: parsed.maxVcpus,
      memoryMiB: parsed.memoryMiB,
      maxMemoryMiB: parsed.maxMemoryMiB,
    }).toEqual({
      vcpus: vm.vcpus,
      maxVcpus: vm.vcpus,
      memoryMiB: vm.memoryMiB,
      maxMemoryMiB: vm.memoryMiB,
    });
    expect(parsed.virtType).toBe('qemu');
    expect(machineFamily(parsed.machine)).toBe('q35');
    expect(parsed.disks).toEqual([
      {
        target: 'vda',
        device: 'disk',
        path: files.disk,
        format: 'qcow2',
        readonly: false,
        seed: false,
        bus: 'virtio',
        ...(layout === 'pool' ? { id: bootDiskId, serial: bootDiskId.replace(/-/g, '').slice(0, 20) } : {}),
      },
      { target: 'sda', device: 'cdrom', ...(iso ? { path: iso } : {}), format: 'raw', readonly: true, seed: false },
      ...(withSeed
        ? [
            {
              target: 'sdb',
              device: 'cdrom',
              path: files.seedIso,
              format: 'raw',
              readonly: true,
              seed: true,
            },
          ]
        : []),
    ]);
    // The VM's one NIC has a random locally administered unicast MAC (its vm_nics row), not one derived from the id.
    expect(parsed.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(parseInt(parsed.mac!.slice(0, 2), 16) & 0b11).toBe(0b10);
    expect(parsed.nics.map((nic) => nic.mac)).toEqual([parsed.mac]);
    expect(parsed.serialLogPath).toBe(files.serialLog);
    expect(parsed.vncEnabled).toBe(true);
    const os = childOf(childOf(parseXml(got.xml), 'domain'), 'os');
    if (image.kind === 'kernel') {
      expect(parsed.kernelPath).toBe(join(image.path, 'vmlinuz'));
      expect(textOf(childOf(os, 'initrd'))).toBe(join(image.path, 'initrd.img'));
      expect(textOf(childOf(os, 'cmdline'))).toBe(readFileSync(join(image.path, 'cmdline'), 'utf8').trim());
      expect(parsed.bootOrder).toBeUndefined();
    } else {
      expect(parsed.kernelPath).toBeUndefined();
      expect(childOf(os, 'initrd')).toBeUndefined();
      expect(parsed.bootOrder).toEqual(vm.bootOrder);
    }
  }

  it('every accepted create request defines a domain that reads back as requested; every refused one is VALIDATION_FAILED', async () => {
    await fc.assert(
      fc.asyncProperty(createRequest, fc.option(updateRequest, { nil: undefined, freq: 3 }), async (req, update) => {
        const body = asJsonBody(createBody(req));
        const created = await validate(CreateVmDto, body);
        if (!created.accepted) {
          stats.createRejected++;
          return;
        }
        stats.createAccepted++;
        const dto = created.dto;
        // An accepted request is within the DTO's documented bounds (an independent restatement).
        expect(VM_NAME.test(dto.name)).toBe(true);
        expect([dto.vcpus, dto.memoryMiB, dto.diskGiB].every(Number.isInteger)).toBe(true);
        expect(
          Object.keys(dto).every((k) =>
            [
              'name',
              'vcpus',
              'memoryMiB',
              'diskGiB',
              'imageId',
              'description',
              'start',
              'hostId',
              'cloudInit',
              'nics',
              'sshKeyIds',
              'autostart',
              'disks',
            ].includes(k),
          ),
        ).toBe(true);
        const image = Object.values(images).find((i) => i.id === dto.imageId);
        // The service refuses these (unknown image; cloud-init without a disk image) before any XML.
        if (!image || (dto.cloudInit && image.kind !== 'disk')) {
          stats.serviceRejected++;
          return;
        }
        const vm = vmRowFor(dto, image, `${RUN}-${++sequence}`);
        const name = `limen-${vm.id}`;
        // The local host: IMAGE_DIR's files in place (what HostImageCache answers there).
        const files = image.kind === 'kernel' ? kernelFiles(image.path) : null;
        const onHost: ImagesOnHost = {
          kernel: files ? { kernel: files.kernel, initrd: files.initrd } : undefined,
          isoPath: image.kind === 'iso' ? image.path : undefined,
        };
        const withSeed = dto.cloudInit !== undefined;
        try {
          const first = await defineAndReadBack(
            name,
            buildDomainXml(domainSpecFor(vm, image, onHost, filesOf(vm), withSeed, undefined), 'qemu'),
          );
          expectDomainMatches(first, vm, image, withSeed, config.vmDir, 'folder');
          if (update === undefined) return;
          // Updates reach the XML when the boot order changes: VmOperations.update redefines the
          // domain from the updated row, keeping its uuid (what redefineDomain does).
          const { extra, ...fields } = update;
          const changed = await validate(UpdateVmDto, asJsonBody(withExtraMembers({ ...fields }, extra)));
          if (!changed.accepted) {
            stats.updatesRejected++;
            return;
          }
          const u = changed.dto;
          if (u.bootOrder === undefined) return;
          Object.assign(vm, {
            vcpus: u.vcpus ?? vm.vcpus,
            memoryMiB: u.memoryMiB ?? vm.memoryMiB,
            description: u.description ?? vm.description,
            bootOrder: u.bootOrder,
          });
          const second = await defineAndReadBack(
            name,
            buildDomainXml(domainSpecFor(vm, image, onHost, filesOf(vm), withSeed, undefined), 'qemu', {
              uuid: first.parsed.uuid,
            }),
            true,
          );
          expectDomainMatches(second, vm, image, withSeed, config.vmDir, 'folder', first.parsed.uuid);
          stats.updatesRedefined++;
        } finally {
          await undefine(name);
        }
      }),
      fcParams(RUNS),
    );
    // Both sides of the property were really exercised.
    expect(stats.createAccepted).toBeGreaterThan(20);
    expect(stats.createRejected).toBeGreaterThan(10);
  }, 420_000);

  it('over HTTP, refused create requests answer 400 problem+json VALIDATION_FAILED and create nothing', async () => {
    const count = async () =>
      (
        await db.query(`SELECT (SELECT count(*) FROM vms)::int AS vms, (SELECT count(*) FROM operations)::int AS ops`)
      )[0];
    const before = await count();
    await fc.assert(
      fc.asyncProperty(createRequest, async (req) => {
        const body = asJsonBody(createBody(req));
        if ((await validate(CreateVmDto, body)).accepted) return;
        stats.httpRejected++;
        const res = await request(t.http)
          .post('/api/v1/vms')
          .auth(alice.accessToken, { type: 'bearer' })
          .set('Idempotency-Key', randomUUID())
          .send(body as object);
        expectProblem(res, 400, 'VALIDATION_FAILED');
        expect(res.body.errors.length).toBeGreaterThan(0);
      }),
      fcParams(Math.ceil(RUNS / 3)),
    );
    expect(await count()).toEqual(before);
    expect(stats.httpRejected).toBeGreaterThan(5);
  }, 180_000);

  it('over HTTP, accepted creates with hostile descriptions define the domain the request describes', async () => {
    const small = fc.record({
      name: validVmName,
      vcpus: fc.integer({ min: 1, max: 2 }),
      memoryMiB: fc.integer({ min: 64, max: 192 }),
      diskGiB: fc.constant(1),
      // Only what validation accepts (the refusals are the previous property's business).
      description: hostileString(1024).filter((d) => d.length <= 1024 && FREE_TEXT.test(d)),
      image: fc.constantFrom<'kernel' | 'disk' | 'iso'>('kernel', 'disk', 'iso'),
    });
    await fc.assert(
      fc.asyncProperty(small, async ({ image, ...fields }) => {
        const body = asJsonBody({ ...fields, imageId: images[image].id, start: false });
        expect((await validate(CreateVmDto, body)).accepted).toBe(true);
        stats.httpAccepted++;
        const res = await request(t.http)
          .post('/api/v1/vms')
          .auth(alice.accessToken, { type: 'bearer' })
          .send(body as object);
        expect({ status: res.status, code: res.body.code }).toEqual({ status: 202, code: undefined });
        const vmId: string = res.body.vm.id;
        try {
          const op = await waitOperation(res.headers.location);
          expect({ status: op.status, error: op.error }).toEqual({ status: 'succeeded', error: null });
          const row = await db.getRepository(Vm).findOneByOrFail({ id: vmId });
          expect({ name: row.name, description: row.description }).toEqual({
            name: fields.name,
            description: (body as { description: string }).description,
          });
          const dumped = await virsh(['dumpxml', '--inactive', `limen-${vmId}`]);
          expect(dumped.code).toBe(0);
          expectDomainMatches(
            { parsed: parseDomainXml(dumped.stdout), xml: dumped.stdout },
            row,
            images[image],
            // Every disk-image VM gets a cloud-init seed (hostname, network-config), cloudInit or not.
            images[image].kind === 'disk',
            t.vmDir,
            'pool',
          );
        } finally {
          const del = await request(t.http).delete(`/api/v1/vms/${vmId}`).auth(alice.accessToken, { type: 'bearer' });
          if (del.status === 202) await waitOperation(del.headers.location);
        }
      }),
      fcParams(6),
    );
    expect(await db.query(`SELECT id FROM vms`)).toEqual([]);
  }, 300_000);
});
