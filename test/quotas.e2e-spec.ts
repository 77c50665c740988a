import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { HostStorage } from '../apps/api/src/hosts/host-storage';
import { KERNEL_IMAGE_NAME, virsh, vmFiles } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(240_000);

/** The sizes of a domain's definition as libvirt holds it: the inactive one (next boot) or the live one. */
function domainSizes(
  vmId: string,
  which: 'inactive' | 'live',
): { maxMemoryMiB: number; currentMemoryMiB: number; maxVcpus: number; vcpus: number } {
  const dumped = virsh('dumpxml', `limen-${vmId}`, ...(which === 'inactive' ? ['--inactive'] : []));
  expect(dumped.status).toBe(0);
  const kib = (element: string) =>
    Number(new RegExp(`<${element} unit='KiB'>(\\d+)</${element}>`).exec(dumped.stdout)![1]);
  const vcpu = /<vcpu[^>]*?(?: current='(\d+)')?[^>]*>(\d+)<\/vcpu>/.exec(dumped.stdout)!;
  return {
    maxMemoryMiB: kib('memory') / 1024,
    currentMemoryMiB: kib('currentMemory') / 1024,
    maxVcpus: Number(vcpu[2]),
    vcpus: Number(vcpu[1] ?? vcpu[2]),
  };
}

describe('Quotas and host capacity on the real hypervisor (e2e)', () => {
  let t: TestApp;
  let admin: string;
  let imageId: string;
  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
    patch: (path: string) => request(t.http).patch(path).auth(token, { type: 'bearer' }),
    put: (path: string) => request(t.http).put(path).auth(token, { type: 'bearer' }),
    delete: (path: string) => request(t.http).delete(path).auth(token, { type: 'bearer' }),
  });

  async function waitOp(
    token: string,
    location: string,
  ): Promise<{ status: string; error: { code?: string } | null; result: Record<string, unknown> | null }> {
    return (await as(token).get(`${location}/wait?timeout=60`).expect(200)).body;
  }

  async function succeeded(token: string, res: request.Response): Promise<void> {
    expect(res.status).toBe(202);
    expect(await waitOp(token, res.headers.location)).toEqual(
      expect.objectContaining({ status: 'succeeded', error: null }),
    );
  }

  async function act(token: string, vmId: string, action: string): Promise<void> {
    await succeeded(
      token,
      await as(token).post(`/api/v1/vms/${vmId}/actions`).send({ action, force: true, timeoutSeconds: 20 }),
    );
  }

  const usage = async (token: string) =>
    (await as(token).get('/api/v1/quota').expect(200)).body.usage as Record<string, number>;

  beforeAll(async () => {
    t = await startTestApp({ DEFAULT_QUOTA_VMS: '10' });
    admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    imageId = (await as(admin).get('/api/v1/images').expect(200)).body.items.find(
      (i: { name: string; kind: string }) => i.name === KERNEL_IMAGE_NAME && i.kind === 'kernel',
    ).id;
  });
  afterAll(async () => {
    // Leave nothing behind on the shared libvirtd, even after a failure.
    for (const { id } of await t.app.get(DataSource).query(`SELECT id FROM vms`)) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`, '--snapshots-metadata');
    }
    await t.close();
  });

  it('security 11.3: a resize of a running VM is charged for everything the domain can use, and the next boot gets exactly what the API says', async () => {
    const user = await createUser(t.http, admin, 'resizer');
    await as(admin).put(`/api/v1/users/${user.id}/quota`).send({ memoryMiB: 100_000, vcpus: 16 }).expect(200);
    const token = user.accessToken;
    const created = await as(token)
      .post('/api/v1/vms')
      .send({ name: 'resized', vcpus: 1, memoryMiB: 256, diskGiB: 1, imageId });
    await succeeded(token, created);
    const vmId = created.body.vm.id as string;
    expect(domainSizes(vmId, 'live')).toEqual({ maxMemoryMiB: 256, currentMemoryMiB: 256, maxVcpus: 1, vcpus: 1 });

    // Up, then down, while it runs: the next boot's definition is exactly the API's sizes (maximum
    // included), and the running domain keeps its boot-time maximum, so it stays charged for that.
    await succeeded(token, await as(token).patch(`/api/v1/vms/${vmId}`).send({ memoryMiB: 512, vcpus: 2 }));
    expect(domainSizes(vmId, 'inactive')).toEqual({ maxMemoryMiB: 512, currentMemoryMiB: 512, maxVcpus: 2, vcpus: 2 });
    expect(await usage(token)).toEqual(expect.objectContaining({ memoryMiB: 512, vcpus: 2 }));
    await succeeded(token, await as(token).patch(`/api/v1/vms/${vmId}`).send({ memoryMiB: 128, vcpus: 1 }));
    const vm = (await as(token).get(`/api/v1/vms/${vmId}`).expect(200)).body;
    expect(vm).toEqual(expect.objectContaining({ memoryMiB: 128, vcpus: 1, state: 'running' }));
    const inactive = domainSizes(vmId, 'inactive');
    const live = domainSizes(vmId, 'live');
    expect(inactive).toEqual({ maxMemoryMiB: 128, currentMemoryMiB: 128, maxVcpus: 1, vcpus: 1 });
    expect(live.maxMemoryMiB).toBe(256);
    const charged = await usage(token);
    expect(charged.memoryMiB).toBe(Math.max(inactive.maxMemoryMiB, live.maxMemoryMiB));
    expect(charged.vcpus).toBe(Math.max(inactive.maxVcpus, live.maxVcpus));
    const host = (await as(admin).get('/api/v1/hosts').expect(200)).body.items[0];
    expect(host.allocated).toEqual(expect.objectContaining({ memoryMiB: 256, vcpus: 1 }));

    // Stopped, it holds what it will boot with; started, the domain is what the API says.
    await act(token, vmId, 'stop');
    expect(await usage(token)).toEqual(expect.objectContaining({ memoryMiB: 128, vcpus: 1 }));
    await act(token, vmId, 'start');
    expect(domainSizes(vmId, 'live')).toEqual({ maxMemoryMiB: 128, currentMemoryMiB: 128, maxVcpus: 1, vcpus: 1 });
    expect(await usage(token)).toEqual(expect.objectContaining({ memoryMiB: 128, vcpus: 1 }));
  });

  it('security 11.3: a resize beyond the host is refused like a create (409 INSUFFICIENT_CAPACITY), and a VM lowered while stopped still starts', async () => {
    const user = await createUser(t.http, admin, 'grower');
    await as(admin).put(`/api/v1/users/${user.id}/quota`).send({ memoryMiB: 1_000_000, vcpus: 16 }).expect(200);
    const token = user.accessToken;
    const created = await as(token)
      .post('/api/v1/vms')
      .send({ name: 'grown', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start: false });
    await succeeded(token, created);
    const vmId = created.body.vm.id as string;
    const host = (await as(admin).get('/api/v1/hosts').expect(200)).body.items[0];
    const beyond = host.memoryMiB + 1; // MEMORY_OVERCOMMIT_PERCENT is 100 here

    expectProblem(
      await as(token)
        .post('/api/v1/vms')
        .send({ name: 'too-big', vcpus: 1, memoryMiB: beyond, diskGiB: 1, imageId, start: false }),
      409,
      'INSUFFICIENT_CAPACITY',
    );
    const before = (await as(token).get(`/api/v1/vms/${vmId}`).expect(200)).body;
    const usageBefore = await usage(token);
    expectProblem(
      await as(token).patch(`/api/v1/vms/${vmId}`).send({ memoryMiB: beyond }),
      409,
      'INSUFFICIENT_CAPACITY',
    );
    expect((await as(token).get(`/api/v1/vms/${vmId}`).expect(200)).body).toEqual(before);
    expect(await usage(token)).toEqual(usageBefore);
    expect(domainSizes(vmId, 'inactive')).toEqual({ maxMemoryMiB: 128, currentMemoryMiB: 128, maxVcpus: 1, vcpus: 1 });
    expect(
      (
        await t.app
          .get(DataSource)
          .query(`SELECT count(*)::int AS n FROM operations WHERE vm_id = $1 AND kind = 'vm.update'`, [vmId])
      )[0].n,
    ).toBe(0);

    // Up and down again while stopped: the definition follows both ways, and boots.
    await succeeded(token, await as(token).patch(`/api/v1/vms/${vmId}`).send({ memoryMiB: 1024, vcpus: 3 }));
    await succeeded(token, await as(token).patch(`/api/v1/vms/${vmId}`).send({ memoryMiB: 96, vcpus: 1 }));
    expect(domainSizes(vmId, 'inactive')).toEqual({ maxMemoryMiB: 96, currentMemoryMiB: 96, maxVcpus: 1, vcpus: 1 });
    await act(token, vmId, 'start');
    expect(domainSizes(vmId, 'live')).toEqual({ maxMemoryMiB: 96, currentMemoryMiB: 96, maxVcpus: 1, vcpus: 1 });
    expect(await usage(token)).toEqual(expect.objectContaining({ memoryMiB: 96, vcpus: 1 }));
  });

  /** Domains whose definition points into this app's VM_DIR (other test apps share the libvirtd). */
  function ourDomains(): string[] {
    const names = virsh('list', '--all', '--name')
      .stdout.split('\n')
      .filter((n) => n.startsWith('limen-'));
    return names.filter((name) => virsh('dumpxml', name).stdout.includes(`${t.vmDir}/`)).sort();
  }

  const GIB = 1024 ** 3;

  it("security 11.8: a disk larger than what the host's VM pool (VM_DIR) has available is refused with 507 INSUFFICIENT_STORAGE, and nothing is created", async () => {
    const user = await createUser(t.http, admin, 'hoarder');
    await as(admin).put(`/api/v1/users/${user.id}/quota`).send({ diskGiB: 1_000_000 }).expect(200);
    // What libvirt reports for the pool (what root may still write there: statfs's f_bfree, not f_bavail).
    await t.app.get(HostStorage).vmPool(null);
    const info = virsh('pool-info', '--bytes', t.data.sandbox.pools[0]).stdout;
    const beyond = Math.ceil(Number(/^Available:\s+(\d+)/m.exec(info)![1]) / GIB) + 1;
    const domains = ourDomains();
    const folders = readdirSync(t.vmDir).sort();

    expectProblem(
      await as(user.accessToken)
        .post('/api/v1/vms')
        .send({ name: 'absurd', vcpus: 1, memoryMiB: 64, diskGiB: beyond, imageId, start: false }),
      507,
      'INSUFFICIENT_STORAGE',
    );
    const db = t.app.get(DataSource);
    expect((await db.query(`SELECT count(*)::int AS n FROM vms WHERE owner_id = $1`, [user.id]))[0].n).toBe(0);
    expect((await db.query(`SELECT count(*)::int AS n FROM operations WHERE owner_id = $1`, [user.id]))[0].n).toBe(0);
    expect(readdirSync(t.vmDir).sort()).toEqual(folders);
    expect(ourDomains()).toEqual(domains);
    expect(await usage(user.accessToken)).toEqual(expect.objectContaining({ vms: 0, diskGiB: 0 }));
  });

  it('security 11.8: a disk over a disk image is charged at its real virtual size, never less than the image', async () => {
    const user = await createUser(t.http, admin, 'imager');
    const work = join(t.vmDir, '..', 'quota-images');
    mkdirSync(work, { recursive: true, mode: 0o755 });
    const file = join(work, 'three-gib.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '3G']);
    const uploaded = await request(t.http)
      .post('/api/v1/images?name=three-gib.qcow2')
      .auth(admin, { type: 'bearer' })
      .set('Content-Type', 'application/octet-stream')
      .send(readFileSync(file))
      .expect(201);
    expect(uploaded.body.kind).toBe('disk');
    const created = await as(user.accessToken)
      .post('/api/v1/vms')
      .send({ name: 'over-image', vcpus: 1, memoryMiB: 64, diskGiB: 1, imageId: uploaded.body.id, start: false });
    await succeeded(user.accessToken, created);
    expect(created.body.vm.diskGiB).toBe(3);
    const virtualSize = JSON.parse(
      execFileSync('qemu-img', ['info', '-U', '--output=json', vmFiles(t.vmDir, created.body.vm.id).disk], {
        encoding: 'utf8',
      }),
    )['virtual-size'];
    expect(virtualSize).toBe(3 * GIB);
    expect(await usage(user.accessToken)).toEqual(expect.objectContaining({ diskGiB: 3 }));
  });

  it('security 11.8: a snapshot with RAM state is charged to the disk quota as the disk grows, and one that would exceed it is refused', async () => {
    const user = await createUser(t.http, admin, 'snapper');
    const token = user.accessToken;
    await as(admin).put(`/api/v1/users/${user.id}/quota`).send({ diskGiB: 2 }).expect(200);
    const created = await as(token)
      .post('/api/v1/vms')
      .send({ name: 'snapped', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId });
    await succeeded(token, created);
    const vmId = created.body.vm.id as string;
    const { disk } = vmFiles(t.vmDir, vmId);
    const allocated = () =>
      JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', disk], { encoding: 'utf8' }))[
        'actual-size'
      ] as number;
    expect(await usage(token)).toEqual(expect.objectContaining({ diskGiB: 1, snapshots: 0 }));

    const before = allocated();
    await succeeded(token, await as(token).post(`/api/v1/vms/${vmId}/snapshots`).send({ name: 'with-ram' }));
    const grownMiB = (allocated() - before) / 1024 ** 2;
    const charged = await usage(token);
    console.log(
      `a RAM snapshot of a 128 MiB guest grew its disk by ${grownMiB.toFixed(1)} MiB; the quota charges ${((charged.diskGiB - 1) * 1024).toFixed(0)} MiB for it`,
    );
    expect(charged.snapshots).toBe(1);
    expect((charged.diskGiB - 1) * 1024).toBeGreaterThanOrEqual(Math.max(128, grownMiB));

    // The disk quota is now below what is used: a snapshot that saves RAM again does not fit.
    await as(admin).put(`/api/v1/users/${user.id}/quota`).send({ diskGiB: 1 }).expect(200);
    const refused = await as(token).post(`/api/v1/vms/${vmId}/snapshots`).send({ name: 'too-much' });
    expectProblem(refused, 403, 'QUOTA_EXCEEDED');
    expect(refused.body.resource).toBe('diskGiB');
    expect(
      (await as(token).get(`/api/v1/vms/${vmId}/snapshots`).expect(200)).body.items.map(
        (s: { name: string }) => s.name,
      ),
    ).toEqual(['with-ram']);
    expect(await usage(token)).toEqual(charged);

    // Deleting the snapshot gives its share back.
    const snapshotId = (await as(token).get(`/api/v1/vms/${vmId}/snapshots`).expect(200)).body.items[0].id;
    await succeeded(token, await as(token).delete(`/api/v1/vms/${vmId}/snapshots/${snapshotId}`));
    expect(await usage(token)).toEqual(expect.objectContaining({ diskGiB: 1, snapshots: 0 }));
  });
});
