import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { GUEST_DIR, openEventStream, virsh } from './support/hypervisor';
import { ADMIN, createUser, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(300_000);

const DHCP_IMAGE = 'tiny-guest-dhcp';

/**
 * The address watcher against libvirt: a tiny guest on an isolated network this test creates asks
 * its DHCP server (dnsmasq on the network's bridge) for a lease; LIMEN reports that lease as the
 * VM's address, and takes it away when the VM stops. The guest's probe targets its own loopback
 * only, so no traffic leaves the isolated network.
 */
describe('VM addresses (e2e)', () => {
  let t: TestApp;
  let base: string;
  let admin: { accessToken: string };
  let alice: { accessToken: string };
  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
  });
  const waitOp = async (token: string, location: string) =>
    (await as(token).get(`${location}/wait?timeout=60`).expect(200)).body;

  /** An isolated network on a /24 nothing on this machine uses (a clash with a host route is 409: try another). */
  async function isolatedNetwork(): Promise<{ id: string; cidr: string }> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const cidr = `10.236.${Math.floor(Math.random() * 250)}.0/24`;
      const res = await as(admin.accessToken)
        .post('/api/v1/networks')
        .send({ name: `e2e-addr-${attempt}`, kind: 'isolated', cidr });
      if (res.status === 201) return res.body;
      expect(res.status).toBe(409);
    }
    throw new Error('no free /24 for the isolated network');
  }

  beforeAll(async () => {
    t = await startTestApp();
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    // The tiny guest in its opt-in probe mode: it brings eth0 up with DHCP and prints the lease.
    const image = join(t.data.sandbox.imageDir, DHCP_IMAGE);
    mkdirSync(image, { mode: 0o755 });
    for (const file of ['vmlinuz', 'initrd.img']) copyFileSync(join(GUEST_DIR, file), join(image, file));
    const cmdline = readFileSync(join(GUEST_DIR, 'cmdline'), 'utf8').trim();
    writeFileSync(join(image, 'cmdline'), `${cmdline} limen.probe=127.0.0.1:9\n`, { mode: 0o644 });
    await as(admin.accessToken).post('/api/v1/images/rescan').expect(200);
  });
  afterAll(async () => {
    const db = t.app.get(DataSource);
    for (const { id } of await db.query(`SELECT id FROM vms`)) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`, '--nvram');
    }
    for (const { libvirt_name: name } of await db.query(
      `SELECT libvirt_name FROM networks WHERE libvirt_name IS NOT NULL`,
    )) {
      virsh('net-destroy', name);
      virsh('net-undefine', name);
    }
    await t.close();
  });

  it("reports the DHCP lease of a VM's NIC on an isolated network (vm.addresses, the VM, its NIC), and none once it stops", async () => {
    const network = await isolatedNetwork();
    const prefix = network.cidr.split('.').slice(0, 3).join('.');
    const images = await as(alice.accessToken).get('/api/v1/images').expect(200);
    const imageId = images.body.items.find((i: { name: string }) => i.name === DHCP_IMAGE).id;
    const stream = await openEventStream(base, alice.accessToken);
    try {
      const res = await as(alice.accessToken)
        .post('/api/v1/vms')
        .send({ name: 'leased', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, nics: [{ networkId: network.id }] })
        .expect(202);
      const vmId: string = res.body.vm.id;
      expect(res.body.vm).toMatchObject({ addresses: [], guestAgent: 'absent', os: null });
      expect(await waitOp(alice.accessToken, res.headers.location)).toMatchObject({ status: 'succeeded' });
      const started = Date.now();
      const event = await stream.waitFor(
        (e) => e.type === 'vm.addresses' && e.data.vmId === vmId && (e.data.addresses as unknown[]).length > 0,
        150_000,
      );
      console.log(`address reported ${Date.now() - started} ms after the create operation succeeded`);
      const nic = (await as(alice.accessToken).get(`/api/v1/vms/${vmId}/nics`).expect(200)).body.items[0];
      const lease = {
        nicId: nic.id,
        mac: nic.mac,
        ip: expect.stringMatching(`^${prefix.replace(/\./g, '\\.')}\\.`),
        prefix: 24,
        family: 'ipv4',
        source: 'lease',
      };
      expect(event.data).toMatchObject({ vmId, addresses: [lease], guestAgent: 'disconnected', os: null });
      const vm = await as(alice.accessToken).get(`/api/v1/vms/${vmId}`).expect(200);
      expect(vm.body).toMatchObject({
        addresses: [lease],
        guestAgent: 'disconnected',
        os: null,
        version: event.data.version,
      });
      expect(vm.headers.etag).toBe(`"${vm.body.version}"`);
      // The list renders the same VM in SQL: the same fields.
      const listed = (await as(alice.accessToken).get('/api/v1/vms').expect(200)).body.items.find(
        (v: { id: string }) => v.id === vmId,
      );
      expect(listed).toEqual(vm.body);
      expect(nic.addresses).toEqual([lease]);

      const stop = await as(alice.accessToken).post(`/api/v1/vms/${vmId}/actions`).send({ action: 'stop' }).expect(202);
      expect(await waitOp(alice.accessToken, stop.headers.location)).toMatchObject({ status: 'succeeded' });
      await stream.waitFor(
        (e) => e.type === 'vm.addresses' && e.data.vmId === vmId && (e.data.addresses as unknown[]).length === 0,
        30_000,
      );
      // A refresh that read the lease just before the stop may still write it back once; the
      // sweep clears a stopped VM's addresses again, so the row settles empty within seconds.
      const deadline = Date.now() + 30_000;
      let addresses: unknown[] = [];
      do {
        addresses = (await as(alice.accessToken).get(`/api/v1/vms/${vmId}`).expect(200)).body.addresses;
        if (!addresses.length) break;
        await new Promise((r) => setTimeout(r, 500));
      } while (Date.now() < deadline);
      expect(addresses).toEqual([]);
    } finally {
      stream.close();
    }
  });
});
