import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { AddressInfo, createServer, Server, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { DatabaseEndpoint } from '../apps/api/src/database/database-endpoint';
import { GUEST_DIR, KERNEL_IMAGE_NAME, virsh, vmFiles } from './support/hypervisor';
import { ADMIN, createUser, login, startTestApp, TestApp } from './support/test-app';

jest.setTimeout(300_000);

/** A kernel image like the tiny guest, whose /init probes these targets over its NIC (see test/fixtures/guest/init.sh). */
const PROBE_IMAGE_NAME = 'net-probe';
/** The host as QEMU user-mode networking presents it to guests. */
const SLIRP_HOST = '10.0.2.2';
/** The real PostgreSQL of this machine (trust auth on loopback), a loopback service like any other. */
const HOST_POSTGRES_PORT = 5432;

interface ProbeResult {
  target: string;
  resolved: string;
  outcome: string;
}

/** What the guest printed: its DHCP lease and one line per probed target. */
function parseProbeLog(log: string): { lease: string | undefined; results: ProbeResult[]; done: boolean } {
  const lease = /^LIMEN-PROBE-LEASE (.*)$/m.exec(log)?.[1]?.trim();
  const results = [...log.matchAll(/^LIMEN-PROBE (\S+) (\S+) (.*)$/gm)].map(([, target, resolved, outcome]) => ({
    target,
    resolved,
    outcome: outcome.trim(),
  }));
  return { lease, results, done: /^LIMEN-PROBE-DONE/m.test(log) };
}

/** The TCP port of a running domain's VNC server, if it has one (today's code: 127.0.0.1, autoport). */
function vncTcpPort(vmId: string): number | undefined {
  const xml = virsh('dumpxml', `limen-${vmId}`).stdout;
  const port = /<graphics type='vnc' port='(\d+)'/.exec(xml)?.[1];
  return port && Number(port) > 0 ? Number(port) : undefined;
}

describe('Guest isolation (e2e, real guests on the default user network)', () => {
  let t: TestApp;
  let base: string;
  let admin: { accessToken: string };
  let alice: { accessToken: string };
  let listener: Server;
  let listenerPort: number;
  const arrivals: string[] = [];
  const post = (token: string, path: string) => request(t.http).post(path).auth(token, { type: 'bearer' });
  const get = (token: string, path: string) => request(t.http).get(path).auth(token, { type: 'bearer' });

  async function createVm(name: string, imageName: string): Promise<string> {
    const images = await get(alice.accessToken, '/api/v1/images').expect(200);
    const image = images.body.items.find(
      (i: { name: string; kind: string }) => i.name === imageName && i.kind === 'kernel',
    );
    expect(image).toBeDefined();
    const res = await post(alice.accessToken, '/api/v1/vms').send({
      name,
      vcpus: 1,
      memoryMiB: 128,
      diskGiB: 1,
      imageId: image.id,
      start: true,
    });
    expect(res.status).toBe(202);
    expect((await get(alice.accessToken, `${res.headers.location}/wait?timeout=60`).expect(200)).body.status).toBe(
      'succeeded',
    );
    return res.body.vm.id;
  }

  async function waitForLog(path: string, marker: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const log = existsSync(path) ? readFileSync(path, 'latin1') : '';
      if (marker.test(log)) return log;
      if (Date.now() > deadline)
        throw new Error(`no ${marker} in ${path} within ${timeoutMs} ms; got ${JSON.stringify(log.slice(-800))}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  beforeAll(async () => {
    // The probe mode and the virtio-net modules are part of the tiny guest; an older build lacks them (idempotent).
    execFileSync('bash', [join(__dirname, '..', 'scripts', 'build-test-guest.sh')], { stdio: 'inherit' });
    listener = createServer((socket: Socket) => {
      arrivals.push(`${socket.remoteAddress}:${socket.remotePort}`);
      socket.end();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    listenerPort = (listener.address() as AddressInfo).port;

    t = await startTestApp({ DEFAULT_QUOTA_VMS: '4' });
    await t.app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    admin = await login(t.http, ADMIN.username, ADMIN.password);
    alice = await createUser(t.http, admin.accessToken, 'alice');
  });

  afterAll(async () => {
    const ids: Array<{ id: string }> = t ? await t.app.get(DataSource).query(`SELECT id FROM vms`) : [];
    for (const { id } of ids) {
      virsh('destroy', `limen-${id}`);
      virsh('undefine', `limen-${id}`, '--snapshots-metadata');
    }
    await t?.close();
    await new Promise((resolve) => listener?.close(resolve));
  });

  it('security 11.1: a guest on the default network opens no connection to host-loopback services (10.0.2.2, its gateway, VNC, the api, PostgreSQL)', async () => {
    // Another tenant's running VM: its console must be out of reach of this guest.
    const victim = await createVm('victim', KERNEL_IMAGE_NAME);
    const apiPort = Number(new URL(base).port);
    const ports = [listenerPort, apiPort, HOST_POSTGRES_PORT];
    const vncPort = vncTcpPort(victim);
    if (vncPort) ports.push(vncPort);
    const databasePort = new URL(t.app.get(DatabaseEndpoint).url).port;
    if (databasePort) ports.push(Number(databasePort));
    const targets = [...ports.map((port) => `${SLIRP_HOST}:${port}`), `gateway:${listenerPort}`];

    const probeImage = join(t.data.sandbox.imageDir, PROBE_IMAGE_NAME);
    mkdirSync(probeImage, { mode: 0o755 });
    for (const file of ['vmlinuz', 'initrd.img']) copyFileSync(join(GUEST_DIR, file), join(probeImage, file));
    const cmdline = readFileSync(join(GUEST_DIR, 'cmdline'), 'utf8').trim();
    writeFileSync(join(probeImage, 'cmdline'), `${cmdline} limen.probe=${targets.join(',')}\n`, { mode: 0o644 });
    await post(admin.accessToken, '/api/v1/images/rescan').expect(200);

    const prober = await createVm('prober', PROBE_IMAGE_NAME);
    const log = await waitForLog(vmFiles(t.vmDir, prober).serialLog, /^LIMEN-PROBE-DONE/m, 120_000);
    const probe = parseProbeLog(log);
    console.log(
      `guest probe: lease ${probe.lease}; ${probe.results.map((r) => `${r.target} -> ${r.outcome}`).join('; ')}`,
    );

    // Positive control: the NIC works (QEMU's DHCP answered), so "not connected" is not a dead link.
    expect(probe.lease).toMatch(/^ip=10\.0\.2\.\d+/);
    expect(probe.results.map((r) => r.target)).toEqual(targets);
    for (const result of probe.results)
      expect({ target: result.target, outcome: result.outcome }).toEqual({
        target: result.target,
        outcome: expect.stringMatching(/^not-connected/),
      });
    // The listener on the host's 127.0.0.1 is the ground truth: nothing arrived.
    expect(arrivals).toEqual([]);
  });

  it('security 11.1: VNC consoles listen on a unix socket only root and QEMU can open, on no TCP port', async () => {
    const vm = await createVm('console-socket', KERNEL_IMAGE_NAME);
    expect(vncTcpPort(vm)).toBeUndefined();
    const xml = virsh('dumpxml', `limen-${vm}`).stdout;
    const socketPath = /<listen type='socket' socket='([^']+)'/.exec(xml)?.[1];
    expect(socketPath).toBeDefined();
    expect(statSync(socketPath!).isSocket()).toBe(true);
    // The socket's folder keeps everyone else out: no access for "other".
    expect(statSync(dirname(socketPath!)).mode & 0o007).toBe(0);
    // QEMU listens on no TCP port at all.
    const pid = readFileSync(`/run/libvirt/qemu/limen-${vm}.pid`, 'utf8').trim();
    const tcp = spawnSync('ss', ['-Hltnp'], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter((line) => line.includes(`pid=${pid},`));
    expect(tcp).toEqual([]);
  });

  // With TEST_DATABASE_URL the api uses that server, and there is no embedded database to check.
  (process.env.TEST_DATABASE_URL ? it.skip : it)(
    'security 11.1: the embedded database listens on a unix socket in DATA_DIR (0700), on no TCP port',
    async () => {
      const endpoint = t.app.get(DatabaseEndpoint);
      expect(endpoint.isEmbedded).toBe(true);
      const url = new URL(endpoint.url);
      expect(url.port).toBe('');
      const socketDir = url.searchParams.get('host')!;
      expect(socketDir).toBe(join(t.dataDir, 'pg-socket'));
      expect(statSync(socketDir).mode & 0o777).toBe(0o700);
      expect(statSync(join(socketDir, '.s.PGSQL.5432')).isSocket()).toBe(true);
      const tcp = spawnSync('ss', ['-Hltnp'], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter((line) => line.includes(`pid=${endpoint.embedded!.pid},`));
      expect(tcp).toEqual([]);
      // And the api works through it.
      await get(admin.accessToken, '/api/v1/users').expect(200);
    },
  );
});
