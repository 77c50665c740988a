import request from 'supertest';
import { DataSource } from 'typeorm';
import { KERNEL_IMAGE_NAME, openEventStream, virsh } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(600_000);

const GIB = 1024 ** 3;

interface Disk {
  id: string;
  position: number;
  sizeGiB: number;
  bus: 'virtio' | 'scsi';
  bootIndex: number | null;
  serial: string;
  createdAt: string;
}

/** `virsh domblklist`-like view of a domain's disks from its XML: serial → {target, bus, file}. */
function domainDisks(vmId: string, live: boolean): Map<string, { target: string; bus: string; file: string }> {
  const xml = virsh('dumpxml', ...(live ? [] : ['--inactive']), `limen-${vmId}`).stdout;
  const disks = new Map<string, { target: string; bus: string; file: string }>();
  for (const [block] of xml.matchAll(/<disk type='file' device='disk'>[\s\S]*?<\/disk>/g)) {
    const serial = /<serial>([^<]*)<\/serial>/.exec(block)?.[1];
    const target = /<target dev='([^']+)' bus='([^']+)'/.exec(block);
    const file = /<source file='([^']+)'/.exec(block)?.[1];
    if (serial && target && file) disks.set(serial, { target: target[1], bus: target[2], file });
  }
  return disks;
}

describe('Disks (e2e, real libvirt, the tiny guest)', () => {
  let t: TestApp;
  let db: DataSource;
  let admin: { accessToken: string };
  let alice: { id: string; accessToken: string };
  let bob: { id: string; accessToken: string };
  let imageId: string;
  let baseUrl: string;
  /** This app's VM pool on the local host (over its VM_DIR). */
  let pool: string;
  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
    delete: (path: string) => request(t.http).delete(path).auth(token, { type: 'bearer' }),
    put: (path: string) => request(t.http).put(path).auth(token, { type: 'bearer' }),
  });

  async function waitOp(token: string, location: string) {
    return (await as(token).get(`${location}/wait?timeout=60`).expect(200)).body as {
      status: string;
      result: Record<string, unknown> | null;
      error: { code: string; detail: string } | null;
    };
  }

  async function succeeded(token: string, res: request.Response) {
    expect({ status: res.status, body: res.body }).toEqual({ status: 202, body: expect.anything() });
    const op = await waitOp(token, res.headers.location);
    expect(op).toMatchObject({ status: 'succeeded', error: null });
    return op;
  }

  async function createVm(name: string, start: boolean, diskGiB = 1): Promise<string> {
    const res = await as(alice.accessToken)
      .post('/api/v1/vms')
      .send({ name, vcpus: 1, memoryMiB: 128, diskGiB, imageId, start });
    await succeeded(alice.accessToken, res);
    return res.body.vm.id;
  }

  const disksOf = async (vmId: string, token = alice.accessToken): Promise<Disk[]> =>
    (await as(token).get(`/api/v1/vms/${vmId}/disks`).expect(200)).body.items;
  const vmDiskGiB = async (vmId: string): Promise<number> =>
    (await as(alice.accessToken).get(`/api/v1/vms/${vmId}`).expect(200)).body.diskGiB;
  /** The volumes in the VM pool, refreshed (another app's tests never write into this app's pool). */
  const poolVolumes = (): string[] => {
    virsh('pool-refresh', pool);
    return virsh('vol-list', pool)
      .stdout.split('\n')
      .slice(2)
      .map((line) => line.trim().split(/\s+/)[0])
      .filter(Boolean)
      .sort();
  };
  /** A VM's disk volumes in the pool (its boot disk's too). */
  const volumesOf = (vmId: string) => poolVolumes().filter((name) => name.startsWith(`${vmId}-disk-`));
  const volumeNames = (vmId: string, disks: Array<{ id: string }>) =>
    disks.map((disk) => `${vmId}-disk-${disk.id}.qcow2`).sort();
  const virtualSize = (vmId: string, diskId: string): number => {
    const info = virsh('vol-info', '--pool', pool, '--bytes', `${vmId}-disk-${diskId}.qcow2`).stdout;
    return Number(/Capacity:\s+(\d+)/.exec(info)?.[1]);
  };
  const diskUsage = async (): Promise<number> =>
    (await as(alice.accessToken).get('/api/v1/quota').expect(200)).body.usage.diskGiB;
  const addDisk = (vmId: string, body: Record<string, unknown>, token = alice.accessToken) =>
    as(token).post(`/api/v1/vms/${vmId}/disks`).send(body);

  beforeAll(async () => {
    t = await startTestApp({ DEFAULT_QUOTA_DISK_GIB: '60' });
    db = t.app.get(DataSource);
    await t.app.listen(0, '127.0.0.1');
    baseUrl = await t.app.getUrl();
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    bob = await createUser(t.http, admin.accessToken, 'bob');
    const images = await as(alice.accessToken).get('/api/v1/images').expect(200);
    imageId = images.body.items.find((i: { name: string }) => i.name === KERNEL_IMAGE_NAME).id;
    pool = t.data.sandbox.pools[0];
  });

  afterAll(async () => {
    // Nothing left on the shared libvirtd, even after a failure.
    for (const { id } of await db.query(`SELECT id FROM vms`)) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`, '--nvram');
    }
    await t.close();
  });

  it('adds a disk to a stopped VM and hot-plugs one into a running VM, grows both (live on the running one), removes them; each step streamed', async () => {
    const events = await openEventStream(baseUrl, alice.accessToken);
    try {
      const stopped = await createVm('disks-stopped', false, 1);
      const running = await createVm('disks-running', true, 1);
      expect(pool).toBeDefined();

      // The boot disk, as the create made it.
      const [boot] = await disksOf(stopped);
      expect(boot).toEqual({
        id: expect.any(String),
        position: 0,
        sizeGiB: 1,
        bus: 'virtio',
        bootIndex: 1,
        serial: boot.id.replace(/-/g, '').slice(0, 20),
        createdAt: expect.any(String),
      });

      // Stopped: the definition gets it; it boots with it.
      const added = await addDisk(stopped, { sizeGiB: 2 });
      const addOp = await succeeded(alice.accessToken, added);
      const cold: Disk = added.body.disk;
      expect(cold).toMatchObject({ position: 1, sizeGiB: 2, bus: 'virtio', bootIndex: null });
      expect(addOp.result).toEqual({ diskId: cold.id, live: false });
      expect(await disksOf(stopped)).toEqual([boot, cold]);
      expect(await vmDiskGiB(stopped)).toBe(3);
      expect(volumesOf(stopped)).toEqual(volumeNames(stopped, [boot, cold]));
      expect(virtualSize(stopped, cold.id)).toBe(2 * GIB);
      expect(domainDisks(stopped, false).get(cold.serial)).toMatchObject({ bus: 'virtio', target: 'vdb' });

      // Running: hot-plugged, so the live domain has it as well as its definition.
      const plugged = await addDisk(running, { sizeGiB: 1, bus: 'scsi' });
      const plugOp = await succeeded(alice.accessToken, plugged);
      const hot: Disk = plugged.body.disk;
      expect(plugOp.result).toEqual({ diskId: hot.id, live: true });
      expect(domainDisks(running, true).get(hot.serial)).toMatchObject({ bus: 'scsi' });
      expect(domainDisks(running, false).get(hot.serial)).toMatchObject({ bus: 'scsi' });
      await events.waitFor((e) => e.type === 'vm.disk.added' && e.data.vmId === running, 10_000);

      // Grow: the stopped VM's volume, the running VM's disk live (what the guest's block device reports).
      const grewCold = await as(alice.accessToken)
        .post(`/api/v1/vms/${stopped}/disks/${cold.id}/resize`)
        .send({ sizeGiB: 4 });
      expect((await succeeded(alice.accessToken, grewCold)).result).toMatchObject({ sizeGiB: 4, live: false });
      expect(grewCold.body.disk).toMatchObject({ id: cold.id, sizeGiB: 4 });
      expect(virtualSize(stopped, cold.id)).toBe(4 * GIB);
      expect(await vmDiskGiB(stopped)).toBe(5);
      const grewHot = await as(alice.accessToken)
        .post(`/api/v1/vms/${running}/disks/${hot.id}/resize`)
        .send({ sizeGiB: 3 });
      expect((await succeeded(alice.accessToken, grewHot)).result).toMatchObject({ sizeGiB: 3, live: true });
      const target = domainDisks(running, true).get(hot.serial)!.target;
      expect(virsh('domblkinfo', `limen-${running}`, target).stdout).toMatch(new RegExp(`Capacity:\\s+${3 * GIB}\\b`));
      const resized = await events.waitFor((e) => e.type === 'vm.disk.resized' && e.data.vmId === running, 10_000);
      expect(resized.data.disk).toMatchObject({ id: hot.id, sizeGiB: 3 });
      // The boot disk grows too.
      const grewBoot = await as(alice.accessToken)
        .post(`/api/v1/vms/${stopped}/disks/${boot.id}/resize`)
        .send({ sizeGiB: 2 });
      await succeeded(alice.accessToken, grewBoot);
      expect((await disksOf(stopped))[0]).toMatchObject({ id: boot.id, sizeGiB: 2 });

      // Remove (stopped: the tiny guest never releases a PCI device, so a live unplug is the Debian
      // guest's spec): off the definition, the volume deleted, the charge given back.
      await succeeded(alice.accessToken, await as(alice.accessToken).delete(`/api/v1/vms/${stopped}/disks/${cold.id}`));
      expect(await disksOf(stopped)).toEqual([expect.objectContaining({ id: boot.id })]);
      expect(domainDisks(stopped, false).has(cold.serial)).toBe(false);
      expect(volumesOf(stopped)).toEqual(volumeNames(stopped, [boot]));
      expect(await vmDiskGiB(stopped)).toBe(2);
      const removed = await events.waitFor((e) => e.type === 'vm.disk.removed' && e.data.vmId === stopped, 10_000);
      expect(removed.data).toMatchObject({ vmId: stopped, diskId: cold.id });

      // Each change is audited under the VM.
      const audit = (await as(admin.accessToken).get(`/api/v1/audit?limit=500`).expect(200)).body.items as Array<{
        action: string;
        targetId: string;
        result: string;
      }>;
      expect(
        audit
          .filter((a) => a.targetId === stopped && a.action.startsWith('vm-disks.'))
          .map((a) => a.action)
          .sort(),
      ).toEqual(['vm-disks.add', 'vm-disks.remove', 'vm-disks.resize', 'vm-disks.resize']);

      // Deleting the VM deletes its data disks' volumes too.
      const del = await as(alice.accessToken).delete(`/api/v1/vms/${running}`);
      await succeeded(alice.accessToken, del);
      expect(volumesOf(running)).toEqual([]);
    } finally {
      events.close();
    }
  });

  it('refuses bad input and leaves nothing half-created: a 17th disk, shrinking, the boot disk, quota, someone else’s, hostile bodies, concurrent adds', async () => {
    const vm = await createVm('disks-limits', false, 1);
    const [boot] = await disksOf(vm);
    /** What must not change after a refusal: the rows, the VM's total, the volumes. */
    const snapshot = async () => ({
      disks: await disksOf(vm),
      diskGiB: await vmDiskGiB(vm),
      volumes: volumesOf(vm),
      rows: Number((await db.query(`SELECT count(*)::int AS n FROM vm_disks WHERE vm_id = $1`, [vm]))[0].n),
    });

    // Up to 16 disks: 15 data disks fill positions 1..15.
    for (let i = 0; i < 15; i++) await succeeded(alice.accessToken, await addDisk(vm, { sizeGiB: 1 }));
    const full = await snapshot();
    expect(full.disks.map((d) => d.position)).toEqual([...Array(16).keys()]);
    expect(full).toMatchObject({ diskGiB: 16, rows: 16 });
    expect(full.volumes).toEqual(volumeNames(vm, full.disks));
    expectProblem(await addDisk(vm, { sizeGiB: 1 }), 400, 'VALIDATION_FAILED');
    expect(await snapshot()).toEqual(full);

    // The lowest free position is reused.
    const third = full.disks[3];
    await succeeded(alice.accessToken, await as(alice.accessToken).delete(`/api/v1/vms/${vm}/disks/${third.id}`));
    // Concurrent adds on a VM with room for one: one is accepted, the others refused, 16 in the end.
    const racers = await Promise.all([1, 2, 3, 4].map(() => addDisk(vm, { sizeGiB: 1 })));
    const accepted = racers.filter((res) => res.status === 202);
    expect(accepted).toHaveLength(1);
    for (const res of racers.filter((r) => r.status !== 202)) expect([409, 400]).toContain(res.status);
    await succeeded(alice.accessToken, accepted[0]);
    expect(accepted[0].body.disk.position).toBe(3);
    expectProblem(await addDisk(vm, { sizeGiB: 1 }), 400, 'VALIDATION_FAILED');
    const refilled = await snapshot();
    expect(refilled).toMatchObject({ diskGiB: 16, rows: 16 });
    expect(refilled.volumes).toEqual(volumeNames(vm, refilled.disks));

    // Shrinking or keeping the size: 400 on sizeGiB; the boot disk stays: 409.
    const data = refilled.disks[1];
    for (const sizeGiB of [1, 0])
      expectProblem(
        await as(alice.accessToken).post(`/api/v1/vms/${vm}/disks/${data.id}/resize`).send({ sizeGiB }),
        400,
        'VALIDATION_FAILED',
      );
    expectProblem(await as(alice.accessToken).delete(`/api/v1/vms/${vm}/disks/${boot.id}`), 409, 'CONFLICT');

    // Quota: the growth must fit what alice has left of 60 GiB.
    const used = await diskUsage();
    const beyond = await as(alice.accessToken)
      .post(`/api/v1/vms/${vm}/disks/${data.id}/resize`)
      .send({ sizeGiB: data.sizeGiB + 60 - used + 1 });
    expectProblem(beyond, 403, 'QUOTA_EXCEEDED');
    expect(beyond.body).toMatchObject({ resource: 'diskGiB', limit: 60, used, requested: 60 - used + 1 });
    expect(await snapshot()).toEqual(refilled);

    // Someone else's VM or disk: 404, whatever the route; a disk of another VM: 404.
    const other = await createVm('disks-other', false, 1);
    const [otherBoot] = await disksOf(other);
    expectProblem(await as(bob.accessToken).get(`/api/v1/vms/${vm}/disks`), 404, 'NOT_FOUND');
    expectProblem(await addDisk(vm, { sizeGiB: 1 }, bob.accessToken), 404, 'NOT_FOUND');
    expectProblem(await as(bob.accessToken).delete(`/api/v1/vms/${vm}/disks/${data.id}`), 404, 'NOT_FOUND');
    expectProblem(
      await as(bob.accessToken).post(`/api/v1/vms/${vm}/disks/${data.id}/resize`).send({ sizeGiB: 2 }),
      404,
      'NOT_FOUND',
    );
    expectProblem(await as(alice.accessToken).delete(`/api/v1/vms/${vm}/disks/${otherBoot.id}`), 404, 'NOT_FOUND');
    expectProblem(
      await as(alice.accessToken).post(`/api/v1/vms/${vm}/disks/${otherBoot.id}/resize`).send({ sizeGiB: 2 }),
      404,
      'NOT_FOUND',
    );

    // Hostile bodies: 400 before anything is looked at.
    const hostile: Array<Record<string, unknown>> = [
      { sizeGiB: "1'/><disk type='file'>" },
      { sizeGiB: 1, bus: "virtio'/><source file='/etc/shadow'/><target bus='" },
      { sizeGiB: 1, bus: 'ide' },
      { sizeGiB: 1, bus: null },
      { sizeGiB: 1, path: '/etc/passwd' },
      { sizeGiB: 1, volume: '../../etc/passwd' },
      { sizeGiB: 65537 },
      { sizeGiB: 2 ** 53 },
      { sizeGiB: 1e308 },
      { sizeGiB: -1 },
      { sizeGiB: 0 },
      { sizeGiB: 1.5 },
      { sizeGiB: '10' },
      { sizeGiB: 'x'.repeat(100_000) },
      {},
    ];
    const before = await snapshot();
    for (const body of hostile) {
      const res = await addDisk(other, body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expectProblem(res, 400, 'VALIDATION_FAILED');
      const grow = await as(alice.accessToken).post(`/api/v1/vms/${other}/disks/${otherBoot.id}/resize`).send(body);
      expect({ body, status: grow.status }).toEqual({ body, status: 400 });
    }
    expectProblem(await as(alice.accessToken).delete(`/api/v1/vms/${vm}/disks/not-a-uuid`), 400, 'VALIDATION_FAILED');
    expect(await snapshot()).toEqual(before);
    expect(await disksOf(other)).toEqual([otherBoot]);
    expect(volumesOf(other)).toEqual(volumeNames(other, [otherBoot]));

    // Concurrent adds across VMs against the quota: room for exactly one more 5 GiB disk.
    const spare = await createVm('disks-spare', false, 1);
    await as(admin.accessToken)
      .put(`/api/v1/users/${alice.id}/quota`)
      .send({ diskGiB: (await diskUsage()) + 5 })
      .expect(200);
    const quotaRace = await Promise.all([other, spare].map((id) => addDisk(id, { sizeGiB: 5 })));
    expect(quotaRace.map((res) => res.status).sort()).toEqual([202, 403]);
    expectProblem(
      quotaRace.find((res) => res.status === 403)!,
      403,
      'QUOTA_EXCEEDED',
    );
    const winner = quotaRace.find((res) => res.status === 202)!;
    await succeeded(alice.accessToken, winner);
    const loser = [other, spare][quotaRace.indexOf(quotaRace.find((res) => res.status === 403)!)];
    const loserDisks = await disksOf(loser);
    expect(loserDisks).toHaveLength(1);
    expect(volumesOf(loser)).toEqual(volumeNames(loser, loserDisks));
    const rows = await db.query(
      `SELECT v.id, v.disk_gib AS "diskGiB", coalesce(sum(d.size_gib), 0)::int AS sum FROM vms v LEFT JOIN vm_disks d ON d.vm_id = v.id GROUP BY v.id`,
    );
    // vms.disk_gib stays the sum of each VM's disks.
    for (const row of rows) expect(row.diskGiB).toBe(row.sum);
    await as(admin.accessToken).put(`/api/v1/users/${alice.id}/quota`).send({ diskGiB: 60 }).expect(200);
  });

  it('a create brings data disks: made empty beside the boot disk, all charged; 16 data disks or more than the quota are refused with nothing made', async () => {
    const res = await as(alice.accessToken)
      .post('/api/v1/vms')
      .send({
        name: 'disks-at-create',
        vcpus: 1,
        memoryMiB: 128,
        diskGiB: 1,
        imageId,
        start: false,
        disks: [{ sizeGiB: 2 }, { sizeGiB: 1, bus: 'scsi' }],
      });
    await succeeded(alice.accessToken, res);
    expect(res.body.vm.diskGiB).toBe(4);
    const vm = res.body.vm.id as string;
    const disks = await disksOf(vm);
    expect(disks.map((d) => [d.position, d.sizeGiB, d.bus, d.bootIndex])).toEqual([
      [0, 1, 'virtio', 1],
      [1, 2, 'virtio', null],
      [2, 1, 'scsi', null],
    ]);
    expect(volumesOf(vm)).toEqual(volumeNames(vm, disks));
    expect(virtualSize(vm, disks[1].id)).toBe(2 * GIB);
    const defined = domainDisks(vm, false);
    expect(disks.map((d) => defined.get(d.serial)?.bus)).toEqual(['virtio', 'virtio', 'scsi']);

    const vmCount = async () => Number((await db.query(`SELECT count(*)::int AS n FROM vms`))[0].n);
    const before = { vms: await vmCount(), volumes: poolVolumes() };
    const refused = (extra: Record<string, unknown>) =>
      as(alice.accessToken)
        .post('/api/v1/vms')
        .send({ name: 'disks-refused', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start: false, ...extra });
    expectProblem(
      await refused({ disks: Array.from({ length: 16 }, () => ({ sizeGiB: 1 })) }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(await refused({ disks: [{ sizeGiB: 1, bus: "scsi'/>" }] }), 400, 'VALIDATION_FAILED');
    expectProblem(await refused({ disks: [{ sizeGiB: 1000 }] }), 403, 'QUOTA_EXCEEDED');
    expect({ vms: await vmCount(), volumes: poolVolumes() }).toEqual(before);
  });

  it('an Idempotency-Key replays the add: one disk more, one volume more', async () => {
    const vm = await createVm('disks-idem', false, 1);
    const send = () => addDisk(vm, { sizeGiB: 1 }).set('Idempotency-Key', 'disk-add-1');
    const first = await send();
    await succeeded(alice.accessToken, first);
    const again = await send();
    expect({ status: again.status, body: again.body }).toEqual({ status: 202, body: first.body });
    expect(await disksOf(vm)).toHaveLength(2);
    expect(volumesOf(vm)).toEqual(volumeNames(vm, await disksOf(vm)));
  });
});
