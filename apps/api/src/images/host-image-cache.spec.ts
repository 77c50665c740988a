import { Logger } from '@nestjs/common';
import { IMAGE_POOL_NAME, imageVolumeName, VM_POOL_NAME } from '@limen/libvirt';
import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppException } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { LeaderJobs } from '../database/leader-jobs';
import { HostStorage } from '../hosts/host-storage';
import { FakeHostPorts, FakeHostRepository, hostRow } from '../hosts/testing/fake-hosts';
import { VmRepository } from '../vms/vm.repository';
import { HostImageCache } from './host-image-cache';
import { Image } from './image.entity';
import { ImageRepository } from './image.repository';
import { FakeHostImageRepository } from './testing/fake-host-images';

/** Every local file HostImageCache opened to hash: hashing is the only reader of streams here. */
const mockHashed: string[] = [];
jest.mock('node:fs', () => {
  const actual = jest.requireActual<typeof import('node:fs')>('node:fs');
  return {
    ...actual,
    createReadStream: (path: string, options?: object) => {
      mockHashed.push(path);
      return actual.createReadStream(path, options);
    },
  };
});

const sha256 = (...parts: string[]) => createHash('sha256').update(parts.join('')).digest('hex');
const POOL_PATH = '/var/lib/limen/pool';

/** The api's machine (hv-1), a remote libvirt host (hv-2), the images, and one cache per api replica. */
class World {
  readonly dir = mkdtempSync(join(tmpdir(), 'limen-host-images-'));
  readonly config = {
    hostName: 'hv-1',
    reconcileIntervalSeconds: 30,
    hypervisor: {
      imageDir: this.dir,
      vmDir: '/var/lib/limen/vms',
      storageRoots: ['/var/lib/limen'],
      vmPool: VM_POOL_NAME,
      imagePool: IMAGE_POOL_NAME,
    },
  } as AppConfig;
  readonly hosts = new FakeHostRepository(
    hostRow('hv-1'),
    hostRow('hv-2', { libvirtUri: 'qemu+tls://hv-2/system', storagePath: POOL_PATH }),
    hostRow('hv-3', { libvirtUri: 'qemu+tls://hv-3/system', storagePath: POOL_PATH }),
  );
  readonly ports = new FakeHostPorts(this.hosts, () => new FakeVirtualizationPort(), 'id-hv-1');
  readonly rows = new FakeHostImageRepository();
  /** VMs using an image, by `${hostId}/${imageId}`. */
  readonly users = new Map<string, number>();
  readonly recorded: Array<{ id: string; sha256: string; stamp: string | null }> = [];

  readonly remote = this.ports.forHost('id-hv-2');

  /** A raw disk image (the fake reads a qcow2's header, which plain text has not). */
  image(name: string, content: string, fields: Partial<Image> = {}): Image {
    const path = join(this.dir, name);
    writeFileSync(path, content);
    const image = Object.assign(new Image(), {
      id: `img-${name}`,
      name,
      kind: 'disk',
      path,
      format: 'raw',
      sizeBytes: content.length,
      sha256: sha256(content),
      sha256Stamp: null,
      available: true,
      ...fields,
    });
    this.rows.images.set(image.id, image);
    return image;
  }

  kernel(name: string, kernel: string, initrd: string): Image {
    const path = join(this.dir, name);
    mkdirSync(path);
    writeFileSync(join(path, 'vmlinuz'), kernel);
    writeFileSync(join(path, 'initrd.img'), initrd);
    const image = Object.assign(new Image(), {
      id: `img-${name}`,
      name,
      kind: 'kernel',
      path,
      format: null,
      sizeBytes: kernel.length + initrd.length,
      sha256: null,
      sha256Stamp: null,
      available: true,
    });
    this.rows.images.set(image.id, image);
    return image;
  }

  cache(): HostImageCache {
    const storage = new HostStorage(this.config, this.ports.asPorts);
    const images = {
      recordSha256: async (id: string, digest: string, stamp: string | null) => {
        this.recorded.push({ id, sha256: digest, stamp });
        Object.assign(this.rows.images.get(id)!, { sha256: digest, sha256Stamp: stamp });
      },
    } as unknown as ImageRepository;
    const vms = {
      countUsingImage: async (imageId: string, hostId: string) => this.users.get(`${hostId}/${imageId}`) ?? 0,
    } as unknown as VmRepository;
    return new HostImageCache(
      this.config,
      this.rows.asRepository,
      images,
      vms,
      this.ports.asPorts,
      storage,
      {} as LeaderJobs,
    );
  }

  host(name: string): string {
    return `id-${name}`;
  }

  uploads() {
    return this.remote.calls.filter((c) => c.method === 'uploadVolume').map((c) => c.args[0]);
  }

  volumes(): string[] {
    return this.remote.calls
      .filter((c) => c.method === 'uploadVolume' || c.method === 'deleteVolume')
      .reduce<string[]>((names, c) => {
        const { name } = c.args[0] as { name: string };
        return c.method === 'uploadVolume' ? [...names, name] : names.filter((n) => n !== name);
      }, []);
  }
}

describe('HostImageCache', () => {
  let world: World;

  beforeAll(() => Logger.overrideLogger(false));
  beforeEach(async () => {
    world = new World();
    await world.ports.reload();
  });
  afterEach(() => rmSync(world.dir, { recursive: true, force: true }));

  it('uses IMAGE_DIR in place on the api machine: no upload, no row', async () => {
    const image = world.image('debian.raw', 'raw bytes');
    const volume = await world.cache().volumeFor(world.host('hv-1'), image);
    expect(volume).toEqual({ pool: IMAGE_POOL_NAME, name: 'debian.raw', path: image.path });
    expect(world.rows.rows.size).toBe(0);
    expect(world.ports.forHost('id-hv-1').calls.filter((c) => c.method === 'uploadVolume')).toEqual([]);
  });

  it('uploads an image to a remote host once, however many creates on however many replicas ask at once', async () => {
    const image = world.image('debian.raw', 'raw bytes');
    const host = world.host('hv-2');
    const [a, b] = [world.cache(), world.cache()];
    const volumes = await Promise.all([a.volumeFor(host, image), a.volumeFor(host, image), b.volumeFor(host, image)]);

    const name = imageVolumeName(image.sha256!, 'raw');
    for (const volume of volumes) expect(volume).toEqual({ pool: VM_POOL_NAME, name, path: `${POOL_PATH}/${name}` });
    expect(world.uploads()).toEqual([{ pool: VM_POOL_NAME, name }]);
    expect(await world.rows.find('id-hv-2', image.id)).toEqual(
      expect.objectContaining({ state: 'ready', volume: name, sha256: image.sha256 }),
    );
    // Later creates use the copy.
    await b.volumeFor(host, image);
    expect(world.uploads()).toHaveLength(1);
  });

  it('hashes a file found in IMAGE_DIR once, records its digest with the file stamp, and names the copy by it', async () => {
    const image = world.image('found.raw', 'found bytes', { sha256: null });
    mockHashed.length = 0;
    const volume = await world.cache().volumeFor(world.host('hv-2'), image);
    expect(world.recorded).toEqual([{ id: image.id, sha256: sha256('found bytes'), stamp: expect.any(String) }]);
    expect(volume.name).toBe(imageVolumeName(sha256('found bytes'), 'raw'));
    // Hashed once; the upload then trusts the digest, the file being unchanged.
    expect(mockHashed).toEqual([image.path]);
  });

  it('hashes the bytes as they are sent while the file is not known unchanged, and reads it only to upload once it is', async () => {
    const image = world.image('uploaded.raw', 'uploaded bytes');
    mockHashed.length = 0;
    await world.cache().volumeFor(world.host('hv-2'), image);
    expect(mockHashed).toEqual([image.path]);
    expect(world.recorded).toEqual([{ id: image.id, sha256: image.sha256, stamp: expect.any(String) }]);
    mockHashed.length = 0;
    await world.cache().volumeFor(world.host('hv-3'), image);
    expect(mockHashed).toEqual([]);
    expect(world.ports.forHost('id-hv-3').calls.filter((c) => c.method === 'uploadVolume')).toHaveLength(1);

    // Written again (same bytes, a later change time): hashed while sent again, never trusted blindly.
    await new Promise((resolve) => setTimeout(resolve, 20)); // past the file system's timestamp granularity
    writeFileSync(image.path, 'uploaded bytes');
    world.rows.rows.delete(`id-hv-3/${image.id}`);
    const copy = { pool: VM_POOL_NAME, name: imageVolumeName(image.sha256!, 'raw') };
    await world.ports.forHost('id-hv-3').deleteVolume(copy);
    await world.cache().volumeFor(world.host('hv-3'), image);
    expect(mockHashed).toEqual([image.path]);
  });

  it('refuses a copy whose bytes do not match the digest, and keeps neither volume nor row', async () => {
    const image = world.image('changed.raw', 'original bytes');
    writeFileSync(image.path, 'tampered bytes');
    const host = world.host('hv-2');
    const error = await world
      .cache()
      .volumeFor(host, image)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppException);
    expect((error as AppException).detail).toMatch(/no longer matches its sha256 .* nothing was kept on host hv-2/);
    expect(world.uploads()).toHaveLength(1);
    expect(world.volumes()).toEqual([]);
    expect(world.rows.rows.size).toBe(0);
  });

  it('keeps nothing when the upload fails, and uploads again on the next create', async () => {
    const image = world.image('debian.raw', 'raw bytes');
    const host = world.host('hv-2');
    world.remote.failNext('uploadVolume');
    await expect(world.cache().volumeFor(host, image)).rejects.toThrow(/injected failure of uploadVolume/);
    expect(world.rows.rows.size).toBe(0);
    await world.cache().volumeFor(host, image);
    expect(world.volumes()).toEqual([imageVolumeName(image.sha256!, 'raw')]);
  });

  it('uploads a kernel image as two volumes, kernel and initrd, checked together', async () => {
    const image = world.kernel('tiny-guest', 'KERNEL', 'INITRD');
    const files = await world.cache().kernelFor(world.host('hv-2'), image);
    const digest = sha256('KERNEL', 'INITRD');
    expect(files).toEqual({
      kernel: `${POOL_PATH}/${imageVolumeName(digest, 'img', 'kernel')}`,
      initrd: `${POOL_PATH}/${imageVolumeName(digest, 'img', 'initrd')}`,
    });
    expect(world.volumes()).toEqual([
      imageVolumeName(digest, 'img', 'kernel'),
      imageVolumeName(digest, 'img', 'initrd'),
    ]);
    expect(await world.cache().kernelFor(world.host('hv-1'), image)).toEqual({
      kernel: join(image.path, 'vmlinuz'),
      initrd: join(image.path, 'initrd.img'),
    });
  });

  it('takes over an upload whose process died (its heartbeat stopped), and waits for one still running', async () => {
    const image = world.image('debian.raw', 'raw bytes');
    const name = imageVolumeName(image.sha256!, 'raw');
    await world.rows.claim({ hostId: 'id-hv-2', imageId: image.id, volume: name, sha256: image.sha256, sizeBytes: 11 });
    const host = world.host('hv-2');

    const waiting = world.cache().volumeFor(host, image);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(world.uploads()).toEqual([]); // the other replica's upload is still alive
    world.rows.now += 61_000; // and now its heartbeat has stopped
    await waiting;
    expect(world.uploads()).toEqual([{ pool: VM_POOL_NAME, name }]);
    expect(world.remote.calls.filter((c) => c.method === 'deleteVolume').map((c) => c.args[0])).toEqual([
      { pool: VM_POOL_NAME, name },
    ]);
  });

  it("removes a deleted image's copies where the host answers, and leaves the rest to the sweep", async () => {
    const image = world.image('debian.raw', 'raw bytes');
    const host = world.host('hv-2');
    const cache = world.cache();
    await cache.volumeFor(host, image);

    world.rows.images.delete(image.id);
    world.remote.setUnavailable(true);
    await cache.forget(image.id);
    expect(world.rows.rows.size).toBe(1); // hv-2 is down: the copy stays for now

    world.remote.setUnavailable(false);
    await cache.sweep();
    expect(world.rows.rows.size).toBe(0);
    expect(world.volumes()).toEqual([]);
  });

  it('keeps the copy of an unavailable image while a VM on that host still uses it', async () => {
    const image = world.image('debian.raw', 'raw bytes');
    const cache = world.cache();
    await cache.volumeFor(world.host('hv-2'), image);
    image.available = false;
    world.users.set(`id-hv-2/${image.id}`, 1);
    await cache.sweep();
    expect(world.rows.rows.size).toBe(1);
    world.users.delete(`id-hv-2/${image.id}`);
    await cache.sweep();
    expect(world.rows.rows.size).toBe(0);
    expect(world.volumes()).toEqual([]);
  });

  it('shares one volume between two images of identical content, and removes it with the last', async () => {
    const first = world.image('a.raw', 'same bytes');
    const second = world.image('b.raw', 'same bytes');
    const cache = world.cache();
    const host = world.host('hv-2');
    expect((await cache.volumeFor(host, first)).name).toBe((await cache.volumeFor(host, second)).name);
    expect(world.uploads()).toHaveLength(1);

    world.rows.images.delete(first.id);
    await cache.forget(first.id);
    expect(world.volumes()).toHaveLength(1);
    world.rows.images.delete(second.id);
    await cache.forget(second.id);
    expect(world.volumes()).toEqual([]);
  });
});
