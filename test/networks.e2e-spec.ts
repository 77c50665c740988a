import { execFileSync } from 'node:child_process';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { domainExists, KERNEL_IMAGE_NAME, virsh } from './support/hypervisor';
import { ADMIN, createUser, expectProblem, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(300_000);

const USER_NETWORK_ID = '00000000-0000-4000-8000-000000000001';
/** Unusual subnets, so nothing of this machine or another test is in the way; each test removes its networks. */
const SUBNETS = { lab: '10.231.7.0/24', lab2: '10.232.7.0/24', spare: '10.233.7.0/24' };

interface NetworkBody {
  id: string;
  name: string;
  kind: string;
  cidr: string | null;
  gateway: string | null;
  dhcpStart: string | null;
  dhcpEnd: string | null;
  bridge: string | null;
  public: boolean;
}

/** The LIMEN networks libvirt has (names starting limen-net-), defined or running. */
/**
 * LIMEN's libvirt networks on this suite's subnets (10.231–10.233): other suites running beside it
 * (vm-addresses, the libvirt specs) define networks of their own elsewhere.
 */
function libvirtNetworks(): string[] {
  const out = virsh('net-list', '--all', '--name').stdout;
  return out
    .split('\n')
    .map((line) => line.trim())
    .filter((name) => name.startsWith('limen-net-'))
    .filter((name) => /<ip address='10\.23[1-3]\./.test(virsh('net-dumpxml', name).stdout))
    .sort();
}

/** A subnet this machine routes (not the default route), narrowed to a /16 or longer: creating it must be refused. */
function hostRouteSubnet(): string | null {
  const routes = JSON.parse(execFileSync('ip', ['-4', '-j', 'route', 'show', 'table', 'main']).toString()) as Array<{
    dst: string;
  }>;
  for (const { dst } of routes) {
    const match = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(dst);
    if (!match || Number(match[2]) > 29 || dst.startsWith('127.')) continue;
    return `${match[1]}/${Math.max(16, Number(match[2]))}`;
  }
  return null;
}

describe('Networks and NICs (e2e)', () => {
  let t: TestApp;
  let admin: { accessToken: string };
  let alice: { id: string; accessToken: string };
  let bob: { id: string; accessToken: string };
  let imageId: string;
  const as = (token: string) => ({
    get: (path: string) => request(t.http).get(path).auth(token, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(token, { type: 'bearer' }),
    delete: (path: string) => request(t.http).delete(path).auth(token, { type: 'bearer' }),
  });

  async function waitOp(token: string, location: string): Promise<{ status: string; error: { code: string } | null }> {
    return (await as(token).get(`${location}/wait?timeout=60`).expect(200)).body;
  }

  async function createNetwork(body: Record<string, unknown>): Promise<NetworkBody> {
    const res = await as(admin.accessToken).post('/api/v1/networks').send(body);
    expect(res.status).toBe(201);
    expect(res.headers.location).toBe(`/api/v1/networks/${res.body.id}`);
    return res.body;
  }

  async function createVm(token: string, name: string, extra: Record<string, unknown> = {}): Promise<string> {
    const res = await as(token)
      .post('/api/v1/vms')
      .send({ name, vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start: false, ...extra });
    expect(res.status).toBe(202);
    expect(await waitOp(token, res.headers.location)).toMatchObject({ status: 'succeeded', error: null });
    return res.body.vm.id;
  }

  async function nicOp(token: string, res: request.Response): Promise<{ id: string; mac: string }> {
    expect(res.status).toBe(202);
    const op = await waitOp(token, res.headers.location);
    expect(op).toMatchObject({ status: 'succeeded', error: null });
    return res.body.nic;
  }

  const networkCount = async () =>
    (await as(admin.accessToken).get('/api/v1/networks?limit=500').expect(200)).body.items.length;
  /**
   * MACs of the domain's NICs as libvirt holds them (its definition, or the running domain's):
   * interfaces, and user-mode NICs, which the adapter passes in <qemu:commandline>.
   */
  const domainMacs = (vmId: string, live = false) => {
    const xml = virsh('dumpxml', ...(live ? [] : ['--inactive']), `limen-${vmId}`).stdout;
    return [...new Set(xml.match(/\b([0-9a-f]{2}:){5}[0-9a-f]{2}\b/g) ?? [])].sort();
  };

  beforeAll(async () => {
    t = await startTestApp({ DEFAULT_QUOTA_VMS: '10' });
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
    bob = await createUser(t.http, admin.accessToken, 'bob');
    const images = await as(alice.accessToken).get('/api/v1/images').expect(200);
    imageId = images.body.items.find((i: { name: string; kind: string }) => i.name === KERNEL_IMAGE_NAME).id;
  });

  afterAll(async () => {
    // Nothing left on the shared libvirtd, even after a failure: this app's domains, then its networks.
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

  it('admins create, list, get and delete networks; an isolated one is defined and running in libvirt until deleted', async () => {
    const before = libvirtNetworks();
    const lab = await createNetwork({ name: 'e2e-lab', kind: 'isolated', cidr: SUBNETS.lab, description: 'lab' });
    expect(lab).toMatchObject({
      name: 'e2e-lab',
      kind: 'isolated',
      cidr: SUBNETS.lab,
      gateway: '10.231.7.1',
      dhcpStart: '10.231.7.2',
      dhcpEnd: '10.231.7.254',
      public: true,
    });
    const libvirtName = `limen-net-${lab.id.replace(/-/g, '').slice(0, 8)}`;
    expect(libvirtNetworks()).toEqual([...before, libvirtName].sort());
    expect(virsh('net-info', libvirtName).stdout).toMatch(/Active:\s+yes/);
    const hidden = await createNetwork({ name: 'e2e-hidden', kind: 'user', public: false });

    const seen = (token: string) => as(token).get('/api/v1/networks').expect(200);
    expect((await seen(alice.accessToken)).body.items.map((n: NetworkBody) => n.name)).toEqual(
      expect.arrayContaining(['user', 'e2e-lab']),
    );
    expect((await seen(alice.accessToken)).body.items.map((n: NetworkBody) => n.name)).not.toContain('e2e-hidden');
    expect((await seen(admin.accessToken)).body.items.map((n: NetworkBody) => n.name)).toContain('e2e-hidden');
    expect((await as(alice.accessToken).get(`/api/v1/networks/${lab.id}`).expect(200)).body).toEqual(lab);
    expectProblem(await as(alice.accessToken).get(`/api/v1/networks/${hidden.id}`), 404, 'NOT_FOUND');
    expectProblem(
      await as(alice.accessToken).post('/api/v1/networks').send({ name: 'mine', kind: 'user' }),
      403,
      'FORBIDDEN',
    );
    expectProblem(await as(alice.accessToken).delete(`/api/v1/networks/${lab.id}`), 403, 'FORBIDDEN');
    expectProblem(await as(admin.accessToken).delete(`/api/v1/networks/${USER_NETWORK_ID}`), 409, 'CONFLICT');

    await as(admin.accessToken).delete(`/api/v1/networks/${lab.id}`).expect(204);
    await as(admin.accessToken).delete(`/api/v1/networks/${hidden.id}`).expect(204);
    expect(libvirtNetworks()).toEqual(before);
    expectProblem(await as(admin.accessToken).get(`/api/v1/networks/${lab.id}`), 404, 'NOT_FOUND');
  });

  it('refuses overlapping subnets (another network, loopback, a host route) with 409 NETWORK_CONFLICT and hostile names with 400, creating nothing', async () => {
    const lab = await createNetwork({ name: 'e2e-overlap', kind: 'nat', cidr: SUBNETS.lab });
    const count = await networkCount();
    const defined = libvirtNetworks();
    const conflicts = [
      { name: 'wider', kind: 'isolated', cidr: '10.231.0.0/16' },
      { name: 'inner', kind: 'isolated', cidr: '10.231.7.128/25' },
      { name: 'loop', kind: 'isolated', cidr: '127.0.0.0/16' },
    ];
    const routed = hostRouteSubnet();
    if (routed) conflicts.push({ name: 'routed', kind: 'isolated', cidr: routed });
    for (const body of conflicts)
      expectProblem(await as(admin.accessToken).post('/api/v1/networks').send(body), 409, 'NETWORK_CONFLICT');
    expectProblem(
      await as(admin.accessToken).post('/api/v1/networks').send({ name: 'e2e-overlap', kind: 'user' }),
      409,
      'CONFLICT',
    );

    const hostile = [
      { name: 'lab;reboot', kind: 'isolated', cidr: SUBNETS.spare },
      { name: 'lab</name><x>', kind: 'isolated', cidr: SUBNETS.spare },
      { name: 'Lab', kind: 'isolated', cidr: SUBNETS.spare },
      { name: 'e2e-x', kind: 'isolated', cidr: `${SUBNETS.spare}$(id)` },
      { name: 'e2e-x', kind: 'isolated', cidr: '10.233.7.0/24\n' },
      { name: 'e2e-x', kind: 'isolated', cidr: SUBNETS.spare, gateway: "10.233.7.1'" },
      { name: 'e2e-x', kind: 'isolated', cidr: '10.233.7.9/24' },
      { name: 'e2e-x', kind: 'isolated', cidr: '10.233.7.0/30' },
      { name: 'e2e-x', kind: 'isolated', cidr: SUBNETS.spare, gateway: '10.1.1.1' },
      { name: 'e2e-x', kind: 'bridge', bridge: 'br0;reboot' },
      { name: 'e2e-x', kind: 'bridge', bridge: 'br0"/><x a="' },
      { name: 'e2e-x', kind: 'bridge', bridge: 'br-$(id)' },
      { name: 'e2e-x', kind: 'bridge', bridge: 'this-is-too-long-for-linux' },
      { name: 'e2e-x', kind: 'bridge', bridge: 'e2enobridge0' },
      { name: 'e2e-x', kind: 'bridge', bridge: 'br0', cidr: SUBNETS.spare },
      { name: 'e2e-x', kind: 'isolated' },
      { name: 'e2e-x', kind: 'weird' },
      { name: 'e2e-x', kind: 'user', vlan: 5 },
      { name: 'e2e-x', kind: 'user', description: 'a\u0000b' },
    ];
    for (const body of hostile) {
      const res = await as(admin.accessToken).post('/api/v1/networks').send(body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expectProblem(res, 400, 'VALIDATION_FAILED');
    }
    expect(await networkCount()).toBe(count);
    expect(libvirtNetworks()).toEqual(defined);
    await as(admin.accessToken).delete(`/api/v1/networks/${lab.id}`).expect(204);
    const baseline = libvirtNetworks();

    // Concurrent overlapping creates: exactly one wins, the others are 409 and leave nothing.
    const racers = await Promise.all(
      ['/25', '/24', '/26', '/24', '/25'].map((prefix, i) =>
        as(admin.accessToken)
          .post('/api/v1/networks')
          .send({ name: `e2e-race-${i}`, kind: 'isolated', cidr: `10.233.7.0${prefix}` }),
      ),
    );
    expect(racers.map((res) => res.status).sort()).toEqual([201, 409, 409, 409, 409]);
    const winner = racers.find((res) => res.status === 201)!.body as NetworkBody;
    expect(libvirtNetworks()).toEqual([...baseline, `limen-net-${winner.id.replace(/-/g, '').slice(0, 8)}`].sort());
    await as(admin.accessToken).delete(`/api/v1/networks/${winner.id}`).expect(204);
    expect(libvirtNetworks()).toEqual(baseline);
  });

  it('NICs: given at create, listed, unique MACs (409), at most 8 (400), someone else’s 404, a network in use kept (409), hot-plug, unplug when stopped', async () => {
    const lab = await createNetwork({ name: 'e2e-nics', kind: 'isolated', cidr: SUBNETS.lab2 });
    const hidden = await createNetwork({ name: 'e2e-private', kind: 'user', public: false });

    // The default: one NIC on the user network.
    const plain = await createVm(alice.accessToken, 'plain');
    const [plainNic] = (await as(alice.accessToken).get(`/api/v1/vms/${plain}/nics`).expect(200)).body.items;
    expect(plainNic).toMatchObject({ networkId: USER_NETWORK_ID, model: 'virtio', addresses: [], portForwards: [] });
    expect(parseInt(plainNic.mac.slice(0, 2), 16) & 3).toBe(2);
    expect(domainMacs(plain)).toEqual([plainNic.mac]);

    const vm = await createVm(alice.accessToken, 'two-nics', {
      nics: [
        { networkId: lab.id, mac: '52:54:00:E2:E0:01' },
        { networkId: USER_NETWORK_ID, model: 'e1000e' },
      ],
    });
    const nics = (await as(alice.accessToken).get(`/api/v1/vms/${vm}/nics`).expect(200)).body.items;
    expect(nics.map((n: { networkId: string; mac: string; model: string }) => [n.networkId, n.model])).toEqual([
      [lab.id, 'virtio'],
      [USER_NETWORK_ID, 'e1000e'],
    ]);
    expect(nics[0].mac).toBe('52:54:00:e2:e0:01');
    expect(domainMacs(vm)).toEqual(nics.map((n: { mac: string }) => n.mac).sort());

    // Refused, and nothing made: no VM row, no domain.
    const vmCount = async () => (await as(alice.accessToken).get('/api/v1/vms').expect(200)).body.items.length;
    const vms = await vmCount();
    const refusedCreate = (extra: Record<string, unknown>) =>
      as(alice.accessToken)
        .post('/api/v1/vms')
        .send({ name: 'refused', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId, start: false, ...extra });
    expectProblem(await refusedCreate({ nics: [{ networkId: lab.id, mac: '52:54:00:e2:e0:01' }] }), 409, 'MAC_IN_USE');
    expectProblem(
      await refusedCreate({ nics: [{ networkId: lab.id, mac: '01:00:5e:00:00:01' }] }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await refusedCreate({ nics: [{ networkId: lab.id, mac: '52:54:00:e2:e0:02<x/>' }] }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(
      await refusedCreate({ nics: Array(9).fill({ networkId: USER_NETWORK_ID }) }),
      400,
      'VALIDATION_FAILED',
    );
    expectProblem(await refusedCreate({ nics: [] }), 400, 'VALIDATION_FAILED');
    expectProblem(await refusedCreate({ nics: [{ networkId: hidden.id }] }), 404, 'NOT_FOUND');
    expect(await vmCount()).toBe(vms);
    expect(virsh('list', '--all', '--name').stdout).not.toContain('refused');

    // Someone else's VM or NIC is 404.
    expectProblem(await as(bob.accessToken).get(`/api/v1/vms/${vm}/nics`), 404, 'NOT_FOUND');
    expectProblem(
      await as(bob.accessToken).post(`/api/v1/vms/${vm}/nics`).send({ networkId: lab.id }),
      404,
      'NOT_FOUND',
    );
    expectProblem(await as(bob.accessToken).delete(`/api/v1/vms/${vm}/nics/${nics[1].id}`), 404, 'NOT_FOUND');
    expectProblem(await as(alice.accessToken).delete(`/api/v1/vms/${plain}/nics/${nics[1].id}`), 404, 'NOT_FOUND');

    // A network in use stays.
    expectProblem(await as(admin.accessToken).delete(`/api/v1/networks/${lab.id}`), 409, 'NETWORK_IN_USE');

    // Up to 8 NICs on the stopped VM, the 9th refused; a duplicate MAC refused on add too.
    expectProblem(
      await as(alice.accessToken).post(`/api/v1/vms/${vm}/nics`).send({ networkId: lab.id, mac: nics[0].mac }),
      409,
      'MAC_IN_USE',
    );
    for (let i = 2; i < 8; i++)
      await nicOp(
        alice.accessToken,
        await as(alice.accessToken).post(`/api/v1/vms/${vm}/nics`).send({ networkId: lab.id }),
      );
    expect(domainMacs(vm)).toHaveLength(8);
    expectProblem(
      await as(alice.accessToken).post(`/api/v1/vms/${vm}/nics`).send({ networkId: lab.id }),
      400,
      'VALIDATION_FAILED',
    );
    expect(domainMacs(vm)).toHaveLength(8);

    // Running: a user-mode NIC cannot be plugged or unplugged (409 before any operation); a network NIC can.
    const all = (await as(alice.accessToken).get(`/api/v1/vms/${vm}/nics`).expect(200)).body.items;
    const removed = await nicOp(
      alice.accessToken,
      await as(alice.accessToken).delete(`/api/v1/vms/${vm}/nics/${all[7].id}`),
    );
    expect(domainMacs(vm)).not.toContain(removed.mac);
    const start = await as(alice.accessToken).post(`/api/v1/vms/${vm}/actions`).send({ action: 'start' });
    expect(await waitOp(alice.accessToken, start.headers.location)).toMatchObject({ status: 'succeeded' });
    const userNic = as(alice.accessToken).post(`/api/v1/vms/${vm}/nics`).send({ networkId: USER_NETWORK_ID });
    expectProblem(await userNic, 409, 'INVALID_STATE');
    expectProblem(await as(alice.accessToken).delete(`/api/v1/vms/${vm}/nics/${nics[1].id}`), 409, 'INVALID_STATE');
    const plugged = await nicOp(
      alice.accessToken,
      await as(alice.accessToken).post(`/api/v1/vms/${vm}/nics`).send({ networkId: lab.id }),
    );
    expect(domainMacs(vm, true)).toContain(plugged.mac);
    expect(domainMacs(vm)).toContain(plugged.mac);
    // The tiny test guest never releases a PCI device, so a live unplug would time out here (the
    // Debian image's reachability e2e unplugs live): stopped, the definition alone changes.
    const stop = await as(alice.accessToken).post(`/api/v1/vms/${vm}/actions`).send({ action: 'stop' });
    expect(await waitOp(alice.accessToken, stop.headers.location)).toMatchObject({ status: 'succeeded' });
    await nicOp(alice.accessToken, await as(alice.accessToken).delete(`/api/v1/vms/${vm}/nics/${plugged.id}`));
    await nicOp(alice.accessToken, await as(alice.accessToken).delete(`/api/v1/vms/${vm}/nics/${nics[1].id}`));
    expect(domainMacs(vm)).not.toContain(plugged.mac);
    expect(domainMacs(vm)).not.toContain(nics[1].mac);
    expect((await as(alice.accessToken).get(`/api/v1/vms/${vm}/nics`).expect(200)).body.items).toHaveLength(6);

    // Once its VMs are gone, the network goes too.
    for (const id of [vm, plain]) {
      const del = await as(alice.accessToken).delete(`/api/v1/vms/${id}`);
      expect(await waitOp(alice.accessToken, del.headers.location)).toMatchObject({ status: 'succeeded' });
      expect(domainExists(id)).toBe(false);
    }
    await as(admin.accessToken).delete(`/api/v1/networks/${lab.id}`).expect(204);
    await as(admin.accessToken).delete(`/api/v1/networks/${hidden.id}`).expect(204);
    expect(libvirtNetworks()).not.toContain(`limen-net-${lab.id.replace(/-/g, '').slice(0, 8)}`);
  });
});
