import request from 'supertest';
import { DataSource } from 'typeorm';
import { CLOUD_IMAGE_NAME, provideCloudImage } from './support/cloud-image';
import { guestExec, waitForAgent } from './support/guest-agent';
import { virsh } from './support/hypervisor';
import { ADMIN, createUser, login, startTestApp, TestApp } from './support/test-app';

/**
 * Issue 15's guest-visible acceptance on the Debian cloud image (scripts/build-cloud-image.sh): a
 * disk hot-plugged into the running guest shows up in its `lsblk -J` with the serial the api gave
 * it, a live resize shows there with the new size, and a live removal makes it go. The test reads
 * the guest through the QEMU guest agent only (virsh qemu-agent-command), never over the network.
 * A Debian boot takes 50–120 s under TCG, so this runs apart from test/disks.e2e-spec.ts.
 */

/** From the create request to the guest agent's first answer; DISKS_GUEST_TIMEOUT_S overrides it. */
const AGENT_DEADLINE_MS = Number(process.env.DISKS_GUEST_TIMEOUT_S ?? 420) * 1000;
/** How long the guest's kernel may take to see a device or a new size after the operation ends. */
const GUEST_DEADLINE_MS = 60_000;
const GIB = 1024 ** 3;

jest.setTimeout(AGENT_DEADLINE_MS + 300_000);

interface BlockDevice {
  name: string;
  serial: string | null;
  size: number | string;
  type: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Disks inside the guest (e2e, real libvirt, the Debian cloud image)', () => {
  let t: TestApp;
  let alice: { accessToken: string };
  let vmId: string;
  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
    delete: (path: string) => request(t.http).delete(path).auth(token, { type: 'bearer' }),
  });

  async function settle(location: string, timeoutMs = 300_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const op = (await as(alice.accessToken).get(`${location}/wait?timeout=60`).expect(200)).body;
      if (op.status === 'succeeded' || op.status === 'failed' || Date.now() > deadline) return op;
    }
  }

  async function succeeded(res: request.Response) {
    expect({ status: res.status, body: res.body }).toEqual({ status: 202, body: expect.anything() });
    const op = await settle(res.headers.location);
    expect(op).toMatchObject({ status: 'succeeded', error: null });
    return op;
  }

  /** The guest's disks as `lsblk -J -b` lists them (whole disks only). */
  async function guestDisks(): Promise<BlockDevice[]> {
    const result = await guestExec(vmId, '/usr/bin/lsblk', ['-J', '-b', '-d', '-o', 'NAME,SERIAL,SIZE,TYPE']);
    if (result.exitCode !== 0) throw new Error(`lsblk exited ${result.exitCode}: ${result.stderr}`);
    return (JSON.parse(result.stdout) as { blockdevices: BlockDevice[] }).blockdevices.filter((d) => d.type === 'disk');
  }

  /** Polls the guest's lsblk until `check` holds; returns the last listing. */
  async function untilGuest(what: string, check: (disks: BlockDevice[]) => boolean): Promise<BlockDevice[]> {
    const deadline = Date.now() + GUEST_DEADLINE_MS;
    let last: BlockDevice[] = [];
    while (Date.now() < deadline) {
      last = await guestDisks();
      if (check(last)) return last;
      await sleep(1000);
    }
    throw new Error(`the guest did not show ${what} within ${GUEST_DEADLINE_MS} ms; lsblk: ${JSON.stringify(last)}`);
  }

  const withSerial = (disks: BlockDevice[], serial: string) => disks.find((d) => d.serial === serial);

  beforeAll(async () => {
    t = await startTestApp();
    const admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    provideCloudImage(t.data.sandbox.imageDir);
    await as(admin.accessToken).post('/api/v1/images/rescan').expect(200);
    const images = (await as(alice.accessToken).get('/api/v1/images').expect(200)).body.items;
    const imageId = images.find(
      (i: { name: string; kind: string }) => i.name === CLOUD_IMAGE_NAME && i.kind === 'disk',
    )?.id;
    expect(imageId).toBeDefined();
    const started = Date.now();
    const created = await as(alice.accessToken)
      .post('/api/v1/vms')
      .send({ name: 'disks-guest', vcpus: 1, memoryMiB: 512, diskGiB: 3, imageId });
    vmId = created.body.vm.id;
    await succeeded(created);
    const waited = await waitForAgent(vmId, AGENT_DEADLINE_MS);
    console.log(
      `disks-guest: the guest agent answered ${Math.round((Date.now() - started) / 1000)} s after the create (${Math.round(waited / 1000)} s of polling)`,
    );
  });

  afterAll(async () => {
    if (!t) return;
    for (const { id } of await t.app.get(DataSource).query(`SELECT id FROM vms`)) {
      const res = await as(alice.accessToken).delete(`/api/v1/vms/${id}`);
      if (res.status === 202) await settle(res.headers.location, 120_000).catch(() => undefined);
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`, '--snapshots-metadata');
    }
    await t.close();
  });

  it('a hot-plugged disk appears in the guest with its serial, a live resize shows the new size, a live removal makes it go', async () => {
    const before = await guestDisks();
    // The boot disk, with the serial the api lists for it.
    const [boot] = (await as(alice.accessToken).get(`/api/v1/vms/${vmId}/disks`).expect(200)).body.items;
    expect(withSerial(before, boot.serial)).toMatchObject({ size: 3 * GIB });

    const plugged = await as(alice.accessToken).post(`/api/v1/vms/${vmId}/disks`).send({ sizeGiB: 1 });
    expect((await succeeded(plugged)).result).toMatchObject({ live: true });
    const disk = plugged.body.disk as { id: string; serial: string };
    const seen = await untilGuest(`a disk with serial ${disk.serial}`, (disks) => !!withSerial(disks, disk.serial));
    console.log(`disks-guest: hot-plugged: ${JSON.stringify(withSerial(seen, disk.serial))}`);
    expect(Number(withSerial(seen, disk.serial)!.size)).toBe(GIB);
    expect(withSerial(seen, disk.serial)!.name).toMatch(/^vd[b-z]$/);

    const grown = await as(alice.accessToken).post(`/api/v1/vms/${vmId}/disks/${disk.id}/resize`).send({ sizeGiB: 2 });
    expect((await succeeded(grown)).result).toMatchObject({ live: true, sizeGiB: 2 });
    const grownSeen = await untilGuest(
      `disk ${disk.serial} at 2 GiB`,
      (disks) => Number(withSerial(disks, disk.serial)?.size) === 2 * GIB,
    );
    console.log(`disks-guest: grown live: ${JSON.stringify(withSerial(grownSeen, disk.serial))}`);

    // A SCSI disk shows its serial too (the SCSI unit serial number page).
    const scsi = await as(alice.accessToken).post(`/api/v1/vms/${vmId}/disks`).send({ sizeGiB: 1, bus: 'scsi' });
    await succeeded(scsi);
    const scsiSerial = (scsi.body.disk as { serial: string }).serial;
    const withScsi = await untilGuest(
      `a SCSI disk with serial ${scsiSerial}`,
      (disks) => !!withSerial(disks, scsiSerial),
    );
    expect(withSerial(withScsi, scsiSerial)!.name).toMatch(/^sd[a-z]$/);

    // Debian releases the device when asked, so a running VM's disk comes out live.
    const removed = await as(alice.accessToken).delete(`/api/v1/vms/${vmId}/disks/${disk.id}`);
    expect((await succeeded(removed)).result).toMatchObject({ live: true });
    await untilGuest(`disk ${disk.serial} gone`, (disks) => !withSerial(disks, disk.serial));
    expect((await as(alice.accessToken).get(`/api/v1/vms/${vmId}/disks`).expect(200)).body.items).toHaveLength(2);
  });
});
