import { openSync, readSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { CLOUD_IMAGE_NAME, provideCloudImage } from './support/cloud-image';
import { agentCommand, guestExec, waitForAgent } from './support/guest-agent';
import { virsh } from './support/hypervisor';
import { ADMIN, createUser, login, startTestApp, TestApp } from './support/test-app';

/**
 * Issue 16's acceptance inside real guests (the Debian cloud image, read through the QEMU guest
 * agent only): a marker written in the guest survives backup → delete → restore, and the restored
 * VM boots; a backup file with one byte flipped is refused and the original is untouched; a full
 * and a linked clone boot with their own MACs, hostnames and machine ids, and outlive their source.
 * Debian boots take 50–120 s each under TCG, so this runs with the other Debian-guest suites.
 */

const AGENT_DEADLINE_MS = Number(process.env.COPIES_GUEST_TIMEOUT_S ?? 420) * 1000;

jest.setTimeout(4 * AGENT_DEADLINE_MS + 600_000);

interface Nic {
  mac: string;
}

describe('Backups and clones inside the guest (e2e, real libvirt, the Debian cloud image)', () => {
  let t: TestApp;
  let alice: { accessToken: string };
  let imageId: string;
  const marker = `LIMEN-MARKER-${Math.random().toString(36).slice(2, 10)}`;
  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
    delete: (path: string) => request(t.http).delete(path).auth(token, { type: 'bearer' }),
  });
  const api = () => as(alice.accessToken);

  async function settle(location: string, timeoutMs = 600_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const op = (await api().get(`${location}/wait?timeout=60`).expect(200)).body;
      if (op.status === 'succeeded' || op.status === 'failed' || Date.now() > deadline) return op;
    }
  }

  async function succeeded(res: request.Response) {
    expect({ status: res.status, body: res.body }).toEqual({ status: 202, body: expect.anything() });
    const op = await settle(res.headers.location);
    expect(op).toMatchObject({ status: 'succeeded', error: null });
    return op;
  }

  async function sh(vmId: string, script: string): Promise<string> {
    const result = await guestExec(vmId, '/bin/sh', ['-c', script], 60_000);
    if (result.exitCode !== 0) throw new Error(`${script} in ${vmId} exited ${result.exitCode}: ${result.stderr}`);
    return result.stdout.trim();
  }

  /** The guest agent answers, and cloud-init has finished its boot (hostname and machine id are set by then). */
  async function booted(vmId: string): Promise<void> {
    await waitForAgent(vmId, AGENT_DEADLINE_MS);
    const done = await guestExec(vmId, '/usr/bin/cloud-init', ['status', '--wait'], AGENT_DEADLINE_MS);
    // 2: done with recoverable errors (degraded), which does not concern this test.
    if (done.exitCode !== 0 && done.exitCode !== 2)
      throw new Error(`cloud-init in ${vmId}: ${done.stdout} ${done.stderr}`);
  }

  const hostname = (vmId: string) => agentCommand<{ 'host-name': string }>(vmId, { execute: 'guest-get-host-name' });
  const macsOf = async (vmId: string) =>
    ((await api().get(`/api/v1/vms/${vmId}/nics`).expect(200)).body.items as Nic[]).map((n) => n.mac);

  async function stop(vmId: string) {
    await succeeded(await api().post(`/api/v1/vms/${vmId}/actions`).send({ action: 'stop' }));
  }

  beforeAll(async () => {
    t = await startTestApp();
    const admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    provideCloudImage(t.data.sandbox.imageDir);
    await as(admin.accessToken).post('/api/v1/images/rescan').expect(200);
    const images = (await api().get('/api/v1/images').expect(200)).body.items;
    imageId = images.find((i: { name: string; kind: string }) => i.name === CLOUD_IMAGE_NAME && i.kind === 'disk')?.id;
    expect(imageId).toBeDefined();
  });

  afterAll(async () => {
    if (!t) return;
    for (const { id } of await t.app.get(DataSource).query(`SELECT id FROM vms`)) {
      const res = await api().delete(`/api/v1/vms/${id}`);
      if (res.status === 202) await settle(res.headers.location, 120_000).catch(() => undefined);
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`, '--snapshots-metadata');
    }
    await t.close();
  });

  it('marker → backup (frozen) → clones → corrupt restore refused → source deleted → restore: the marker is back', async () => {
    const created = await api()
      .post('/api/v1/vms')
      .send({ name: 'copies-src', vcpus: 1, memoryMiB: 512, diskGiB: 3, imageId });
    const sourceId: string = created.body.vm.id;
    await succeeded(created);
    await booted(sourceId);
    await sh(sourceId, `echo ${marker} > /root/marker && sync`);
    const sourceMachineId = await sh(sourceId, 'cat /etc/machine-id');

    // The guest has its agent: the backup is taken with its filesystems frozen, and thawed after.
    const backedUp = await api().post(`/api/v1/vms/${sourceId}/backups`).send({});
    await succeeded(backedUp);
    const backup = (await api().get(`/api/v1/backups/${backedUp.body.backup.id}`).expect(200)).body;
    expect(backup).toMatchObject({ state: 'ready', consistency: 'filesystem', vmId: sourceId });
    const frozen = await agentCommand<string>(sourceId, { execute: 'guest-fsfreeze-status' });
    expect(frozen).toBe('thawed');

    // Clones of the stopped source: one full, one linked, booted side by side.
    await stop(sourceId);
    const full = await api().post(`/api/v1/vms/${sourceId}/clone`).send({ name: 'copies-full' });
    const linked = await api().post(`/api/v1/vms/${sourceId}/clone`).send({ name: 'copies-linked', linked: true });
    await Promise.all([succeeded(full), succeeded(linked)]);
    const clones: string[] = [full.body.vm.id, linked.body.vm.id];
    await Promise.all(clones.map((id) => booted(id)));
    const sourceMacs = await macsOf(sourceId);
    const seen = new Set<string>([...sourceMacs]);
    for (const [index, id] of clones.entries()) {
      for (const mac of await macsOf(id)) {
        expect(seen.has(mac)).toBe(false);
        seen.add(mac);
      }
      expect((await hostname(id))['host-name']).toBe(['copies-full', 'copies-linked'][index]);
      expect(await sh(id, 'cat /root/marker')).toBe(marker);
    }
    const machineIds = await Promise.all(clones.map((id) => sh(id, 'cat /etc/machine-id')));
    expect(new Set([sourceMachineId, ...machineIds]).size).toBe(3);

    // One flipped byte in the backup: a restore over the (stopped) source is refused, and the source is as it was.
    const disk0 = join(t.dataDir, 'backups', backup.id, 'disk-0.qcow2');
    const flip = () => {
      const fd = openSync(disk0, 'r+');
      const byte = Buffer.alloc(1);
      readSync(fd, byte, 0, 1, 4096);
      byte[0] ^= 0xff;
      writeSync(fd, byte, 0, 1, 4096);
      closeSync(fd);
    };
    const disksBefore = (await api().get(`/api/v1/vms/${sourceId}/disks`).expect(200)).body.items;
    flip();
    const refused = await api().post(`/api/v1/backups/${backup.id}/restore`).send({ target: 'original' });
    if (refused.status === 202) {
      const op = await settle(refused.headers.location);
      expect(op).toMatchObject({ status: 'failed', error: expect.objectContaining({ code: 'BACKUP_CORRUPT' }) });
    } else {
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe('BACKUP_CORRUPT');
    }
    expect((await api().get(`/api/v1/vms/${sourceId}/disks`).expect(200)).body.items).toEqual(disksBefore);
    flip();

    // The source goes; both clones keep running and reading their disks (the linked one from its base).
    await succeeded(await api().delete(`/api/v1/vms/${sourceId}`));
    for (const id of clones) expect(await sh(id, 'sync && cat /root/marker')).toBe(marker);

    // Restore into a new VM: it boots, and the marker is there.
    const restored = await api()
      .post(`/api/v1/backups/${backup.id}/restore`)
      .send({ target: 'new', name: 'copies-restored' });
    await succeeded(restored);
    const restoredId: string = restored.body.vm.id;
    await booted(restoredId);
    expect(await sh(restoredId, 'cat /root/marker')).toBe(marker);
  });
});
