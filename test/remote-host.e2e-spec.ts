import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { CLOUD_IMAGE_NAME, CLOUD_IMAGE_PATH, generateSshKey, provideCloudImage } from './support/cloud-image';
import { guestExec, waitForAgent } from './support/guest-agent';
import { domainExists } from './support/hypervisor';
import { RemoteLibvirtd, startRemoteLibvirtd } from './support/remote-libvirtd';
import { ADMIN, login, startTestApp, TestApp } from './support/test-app';

/**
 * Issue 15's acceptance "a remote host with storage the api cannot see", on the real hypervisor
 * with the Debian cloud image (scripts/build-cloud-image.sh).
 *
 * The remote host is a second libvirtd on this machine in a private mount namespace
 * (scripts/remote-libvirtd.sh), registered through qemu+tcp://127.0.0.1:<port>/system. Its pool
 * folder is a tmpfs that exists only inside that namespace, and the namespace hides this machine's
 * /var/lib/limen (the api's VM_DIR and IMAGE_DIR) from it: the image, the disks, the seed ISO and
 * the serial log can only travel through libvirt's volume calls. The test looks inside with
 * nsenter and outside with the api's own eyes.
 *
 * One Debian guest under TCG: 60–120 s to its agent, longer on busy cores (hence the deadlines).
 * scripts/test.sh runs it once, in the background beside the reachability suite.
 */

/** From the create request to the guest agent's first answer (REMOTE_AGENT_TIMEOUT_S overrides it). */
const AGENT_DEADLINE_MS = Number(process.env.REMOTE_AGENT_TIMEOUT_S ?? 420) * 1000;
/**
 * cloud-init's stages (write_files, the SSH key) finish after the agent has started: 46 s later on
 * a quiet machine, 96 s at load 10 (measured); REMOTE_CLOUD_INIT_TIMEOUT_S overrides it.
 */
const CLOUD_INIT_DEADLINE_MS = Number(process.env.REMOTE_CLOUD_INIT_TIMEOUT_S ?? 300) * 1000;
/** A hot-plugged disk and a live resize reach the guest's kernel within seconds. */
const GUEST_SEES_DEADLINE_MS = 60_000;
const GIB = 2 ** 30;

jest.setTimeout(AGENT_DEADLINE_MS + 600_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every path under `root`, with its size for files: what "nothing written" compares. */
function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        out.push(`${path}/`);
        walk(path);
      } else out.push(`${path} ${statSync(path).size}`);
    }
  };
  walk(root);
  return out.sort();
}

interface LsblkDevice {
  name: string;
  size: number;
  serial: string | null;
}

describe('A remote host whose storage the api cannot see (e2e, a second libvirtd, the Debian cloud image)', () => {
  let remote: RemoteLibvirtd;
  let t: TestApp;
  let admin: string;
  let key: { dir: string; privateKey: string; publicKey: string };
  let imageId: string;
  let hostId: string;
  let vmId: string;
  let requestedAt: number;
  let vmDirBefore: string[];
  const marker = `limen-remote-${Math.random().toString(36).slice(2, 10)}`;

  const as = () => ({
    get: (path: string) => request(t.http).get(path).auth(admin, { type: 'bearer' }),
    post: (path: string) => request(t.http).post(path).auth(admin, { type: 'bearer' }),
    delete: (path: string) => request(t.http).delete(path).auth(admin, { type: 'bearer' }),
  });
  const remoteVirsh = (...args: string[]) =>
    spawnSync('virsh', ['-c', remote.uri, ...args], { encoding: 'utf8', timeout: 30_000 });
  const exec = (path: string, args: string[]) => guestExec(vmId, path, args, 30_000, remote.uri);

  /** Long-polls an operation to its end and expects it to have succeeded. */
  async function succeeded(location: string, timeoutMs = 600_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const op = (await as().get(`${location}/wait?timeout=60`).expect(200)).body;
      if (op.status === 'succeeded' || op.status === 'failed' || Date.now() > deadline) {
        expect({ kind: op.kind, status: op.status, error: op.error }).toEqual({
          kind: op.kind,
          status: 'succeeded',
          error: null,
        });
        return;
      }
    }
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const value = await probe();
        if (value) return value;
        last = value;
      } catch (error) {
        last = error;
      }
      await sleep(2000);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
  }

  async function lsblk(): Promise<LsblkDevice[]> {
    const result = await exec('/usr/bin/lsblk', ['-J', '-b', '-d', '-o', 'NAME,SIZE,SERIAL']);
    if (result.exitCode !== 0) throw new Error(`lsblk exited ${result.exitCode}: ${result.stderr}`);
    return (JSON.parse(result.stdout) as { blockdevices: LsblkDevice[] }).blockdevices;
  }

  /** The remote pool as the remote host sees it: the names of this VM's volumes. */
  async function vmVolumesInside(): Promise<string[]> {
    return ((await remote.listInside(remote.poolDir)) ?? []).filter((name) => name.startsWith(vmId));
  }

  beforeAll(async () => {
    const started = Date.now();
    remote = await startRemoteLibvirtd();
    t = await startTestApp();
    admin = (await login(t.http, ADMIN.username, ADMIN.password)).accessToken;
    provideCloudImage(t.data.sandbox.imageDir);
    await as().post('/api/v1/images/rescan').expect(200);
    const images = (await as().get('/api/v1/images').expect(200)).body.items;
    imageId = images.find((i: { name: string; kind: string }) => i.name === CLOUD_IMAGE_NAME && i.kind === 'disk')?.id;
    expect(imageId).toBeDefined();
    key = generateSshKey('limen-remote-e2e');
    vmDirBefore = listing(t.vmDir);
    console.log(`remote-host: remote libvirtd at ${remote.uri} and the api ready in ${Date.now() - started} ms`);
  });

  afterAll(async () => {
    try {
      if (t) {
        const ids: Array<{ id: string }> = await t.app.get(DataSource).query(`SELECT id FROM vms`);
        for (const { id } of ids) {
          const res = await as().delete(`/api/v1/vms/${id}`);
          if (res.status === 202) await succeeded(res.headers.location, 120_000).catch(() => undefined);
        }
        await t.close();
      }
    } finally {
      // Always: its guests and daemons go with it, whatever the api left.
      if (remote) await remote.stop();
      if (key) rmSync(key.dir, { recursive: true, force: true });
    }
  });

  it('registers the remote libvirt host with a storage path only it can see', async () => {
    // The api's own view: nothing at that path on this side of the namespace.
    expect(remote.visibleOutside(remote.poolDir)).toBe(false);
    const res = await as()
      .post('/api/v1/hosts')
      .send({ name: 'remote-ns', adapter: 'libvirt', libvirtUri: remote.uri, storagePath: remote.poolDir });
    expect({ status: res.status, body: res.body }).toEqual({
      status: 201,
      body: expect.objectContaining({ libvirtUri: remote.uri, status: 'up' }),
    });
    hostId = res.body.id;
  });

  it('creates a VM from the cloud image there: it boots, its cloud-init data arrived, its files are in the remote pool only', async () => {
    const userData = [
      '#cloud-config',
      'write_files:',
      '  - path: /var/lib/limen-e2e/marker',
      `    content: "${marker}"`,
      '',
    ].join('\n');
    requestedAt = Date.now();
    const res = await as()
      .post('/api/v1/vms')
      .send({
        name: 'remote-guest',
        vcpus: 1,
        memoryMiB: 512,
        diskGiB: 3,
        imageId,
        hostId,
        cloudInit: { userData, sshAuthorizedKeys: [key.publicKey] },
      });
    expect({ status: res.status, hostId: res.body.vm?.hostId }).toEqual({ status: 202, hostId });
    vmId = res.body.vm.id;
    await succeeded(res.headers.location);
    console.log(`remote-host: create (image upload to the host included) took ${Date.now() - requestedAt} ms`);

    // The domain is on the remote libvirtd, not on this machine's.
    expect(remoteVirsh('domstate', `limen-${vmId}`).stdout.trim()).toBe('running');
    expect(domainExists(vmId)).toBe(false);

    const agentMs = await waitForAgent(vmId, AGENT_DEADLINE_MS - (Date.now() - requestedAt), undefined, remote.uri);
    console.log(
      `remote-host: guest agent answered ${Date.now() - requestedAt} ms after the create request (${agentMs} ms of waiting)`,
    );
    const seen = await until(
      'the cloud-init marker in the guest',
      async () => {
        const cat = await exec('/bin/cat', ['/var/lib/limen-e2e/marker']);
        return cat.exitCode === 0 && cat.stdout;
      },
      CLOUD_INIT_DEADLINE_MS,
    );
    expect(seen.trim()).toBe(marker);
    const keys = await until(
      "the SSH key in the default user's authorized_keys",
      async () => {
        const cat = await exec('/bin/cat', ['/home/debian/.ssh/authorized_keys']);
        return cat.exitCode === 0 && cat.stdout;
      },
      CLOUD_INIT_DEADLINE_MS,
    );
    expect(keys).toContain(key.publicKey);
    console.log(`remote-host: cloud-init data seen ${Date.now() - requestedAt} ms after the create request`);

    // The boot log comes through the remote pool too (no shared folder to read it from).
    const serial = await as().get(`/api/v1/vms/${vmId}/serial`).expect(200);
    expect(serial.text).toMatch(/Linux version|cloud-init/);

    // The remote host holds the image, the disk, the seed and the serial log; the api sees none of them.
    const inside = (await remote.listInside(remote.poolDir)) ?? [];
    expect(inside).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^${vmId}-disk-[0-9a-f-]{36}\\.qcow2$`)),
        `${vmId}-seed.iso`,
        `${vmId}-serial.log`,
        expect.stringMatching(/^image-[0-9a-f]{32}\.qcow2$/),
      ]),
    );
    expect(remote.visibleOutside(remote.poolDir)).toBe(false);
    for (const name of inside) expect(remote.visibleOutside(join(remote.poolDir, name))).toBe(false);
    expect(listing(t.vmDir)).toEqual(vmDirBefore);

    // The host reports its pool with capacity and use: the uploaded image counts.
    const host = (await as().get(`/api/v1/hosts/${hostId}`).expect(200)).body;
    const pool = (host.storagePools as Array<{ name: string; path: string; allocationBytes: number }>).find(
      (p) => p.path === remote.poolDir,
    );
    expect(pool).toEqual(
      expect.objectContaining({
        name: expect.stringMatching(/^limen-/),
        capacityBytes: expect.any(Number),
        availableBytes: expect.any(Number),
      }),
    );
    expect(pool!.allocationBytes).toBeGreaterThan(statSync(CLOUD_IMAGE_PATH).size);
  });

  it('takes a snapshot of the running VM on the remote host', async () => {
    const res = await as().post(`/api/v1/vms/${vmId}/snapshots`).send({ name: 'after-boot' });
    expect(res.status).toBe(202);
    await succeeded(res.headers.location);
    const listed = (await as().get(`/api/v1/vms/${vmId}/snapshots`).expect(200)).body.items;
    expect(listed).toEqual([expect.objectContaining({ name: 'after-boot' })]);
    expect(remoteVirsh('snapshot-list', `limen-${vmId}`, '--name').stdout).toMatch(/\S/);
  });

  it('hot-plugs a disk the guest sees in lsblk, then grows it live to a size the guest sees too', async () => {
    const before = await lsblk();
    const added = await as().post(`/api/v1/vms/${vmId}/disks`).send({ sizeGiB: 1 });
    expect(added.status).toBe(202);
    await succeeded(added.headers.location);
    const disk = added.body.disk as { id: string; serial: string; sizeGiB: number };
    expect(disk).toEqual(expect.objectContaining({ sizeGiB: 1, serial: expect.any(String) }));
    const listed = (await as().get(`/api/v1/vms/${vmId}/disks`).expect(200)).body.items;
    expect(listed.map((d: { id: string }) => d.id)).toContain(disk.id);

    const plugged = await until(
      `a disk with serial ${disk.serial} in lsblk`,
      async () => (await lsblk()).find((d) => d.serial === disk.serial),
      GUEST_SEES_DEADLINE_MS,
    );
    expect(plugged.size).toBe(GIB);
    expect(before.some((d) => d.name === plugged.name)).toBe(false);
    expect(await vmVolumesInside()).toContainEqual(expect.stringContaining(`-disk-${disk.id}.qcow2`));

    const resized = await as().post(`/api/v1/vms/${vmId}/disks/${disk.id}/resize`).send({ sizeGiB: 2 });
    expect(resized.status).toBe(202);
    await succeeded(resized.headers.location);
    const grown = await until(
      `${plugged.name} at 2 GiB in lsblk`,
      async () => (await lsblk()).find((d) => d.serial === disk.serial && d.size === 2 * GIB),
      GUEST_SEES_DEADLINE_MS,
    );
    expect(grown.name).toBe(plugged.name);
    expect(listing(t.vmDir)).toEqual(vmDirBefore);
  });

  it('deletes the VM: its domain and volumes leave the remote host, and nothing was ever written under VM_DIR', async () => {
    const res = await as().delete(`/api/v1/vms/${vmId}`);
    expect(res.status).toBe(202);
    await succeeded(res.headers.location);
    expect(remoteVirsh('dominfo', `limen-${vmId}`).status).not.toBe(0);
    expect(await vmVolumesInside()).toEqual([]);
    expect(listing(t.vmDir)).toEqual(vmDirBefore);
    expect(remote.visibleOutside(remote.poolDir)).toBe(false);

    // The host keeps its copy of the image for the next VM, until the image itself is deleted.
    const isImage = (name: string) => /^image-[0-9a-f]{32}\.qcow2$/.test(name);
    expect(((await remote.listInside(remote.poolDir)) ?? []).filter(isImage)).toHaveLength(1);
    await as().delete(`/api/v1/images/${imageId}`).expect(204);
    expect(((await remote.listInside(remote.poolDir)) ?? []).filter(isImage)).toEqual([]);
  });
});
