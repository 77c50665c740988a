import { HttpStatus, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HypervisorError, imageVolumeName, VirtualizationPort, VolumeFormat, VolumeRef } from '@limen/libvirt';
import { createHash, Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { AppException, ErrorCode } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { LeaderJobs } from '../database/leader-jobs';
import { HostPorts } from '../hosts/host-ports';
import { HostStorage } from '../hosts/host-storage';
import { VmRepository } from '../vms/vm.repository';
import { HostImage } from './host-image.entity';
import { HostImageRepository } from './host-image.repository';
import { Image } from './image.entity';
import { ImageRepository } from './image.repository';
import { fileStamp } from './file-stamp';
import { kernelFiles } from './image-scanner';

/** A volume on a host, with the path its domain definitions name. */
export interface HostVolume extends VolumeRef {
  path: string;
}

/** Where a kernel image's files are on a host (the cmdline stays a file the api reads). */
export interface HostKernelFiles {
  kernel: string;
  initrd: string;
}

const HEARTBEAT_MS = 10_000;
/** An upload whose heartbeat is older than this was left by a process that died. */
const ABANDONED_AFTER_SECONDS = 60;
const WAIT_POLL_MS = 500;

/** One file of an image as uploaded: the local file and the volume it becomes. */
interface UploadedFile {
  path: string;
  ref: VolumeRef;
  format: VolumeFormat;
}

/**
 * Images on the hosts that need them. A host on the api's machine uses IMAGE_DIR in place, through
 * its `limen-images` pool. Any other host gets a copy in its VM pool, uploaded through libvirt on
 * first use, named by the image's digest and recorded in `host_images`: one upload per host and
 * image however many creates race for it (one row, claimed first; others wait for it to be
 * ready), and checked, since the bytes sent are hashed as they are read and compared with the
 * image's digest. A copy goes again when its image is deleted or no longer available and no VM
 * on that host uses it (now, or on a later sweep while the host is down).
 */
@Injectable()
export class HostImageCache implements OnApplicationBootstrap {
  private readonly logger = new Logger('Images');
  /** Work on one host's copy of one image in this process, so concurrent callers share it. */
  private readonly inFlight = new Map<string, Promise<HostImage>>();

  constructor(
    private readonly config: AppConfig,
    private readonly rows: HostImageRepository,
    private readonly images: ImageRepository,
    private readonly vms: VmRepository,
    private readonly ports: HostPorts,
    private readonly storage: HostStorage,
    private readonly jobs: LeaderJobs,
  ) {}

  onApplicationBootstrap(): void {
    this.jobs.every('host-image-sweep', this.config.reconcileIntervalSeconds, () => this.sweep());
  }

  /**
   * The volume holding a disk or ISO image on a host (null: the local host, for VMs from before
   * hosts), uploaded there first if the host is not on the api's machine.
   */
  async volumeFor(hostId: string | null, image: Image): Promise<HostVolume> {
    if (image.kind === 'kernel') throw new Error('a kernel image has two files: see kernelFor');
    if (hostId === null || this.storage.isLocal(hostId)) {
      const pool = await this.storage.imagePool(hostId);
      return { pool: pool.name, name: basename(image.path), path: image.path };
    }
    const copy = await this.copyOn(hostId, image);
    const pool = await this.storage.vmPool(hostId);
    return { pool: pool.name, name: copy.volume, path: `${pool.path}/${copy.volume}` };
  }

  /** The kernel and initrd of a kernel image on a host: IMAGE_DIR's files on the api's machine, uploaded volumes elsewhere. */
  async kernelFor(hostId: string | null, image: Image): Promise<HostKernelFiles> {
    const files = image.kind === 'kernel' ? kernelFiles(image.path) : null;
    if (!files) throw this.unusable(image, 'is not a kernel image with vmlinuz and initrd');
    if (hostId === null || this.storage.isLocal(hostId)) return { kernel: files.kernel, initrd: files.initrd };
    const copy = await this.copyOn(hostId, image);
    const pool = await this.storage.vmPool(hostId);
    const [kernel, initrd] = volumesOf(copy);
    return { kernel: `${pool.path}/${kernel}`, initrd: `${pool.path}/${initrd}` };
  }

  /**
   * Removes the image's copies from every host, for an image that was deleted (no VM can use it
   * then). A host that cannot be reached keeps its copy until a later sweep.
   */
  async forget(imageId: string): Promise<void> {
    for (const row of await this.rows.ofGoneImages()) if (row.imageId === imageId) await this.removeCopy(row);
  }

  /**
   * The leader's periodic cleanup: copies of deleted or unavailable images that no VM on their
   * host uses any more, and uploads abandoned by a process that died.
   */
  async sweep(): Promise<void> {
    for (const row of await this.rows.ofGoneImages()) {
      if (row.state === 'uploading') continue;
      if ((await this.vms.countUsingImage(row.imageId, row.hostId)) > 0) continue;
      await this.removeCopy(row);
    }
    for (const row of await this.rows.abandonedUploads(ABANDONED_AFTER_SECONDS)) {
      if (await this.rows.removeIfAbandoned(row.hostId, row.imageId, ABANDONED_AFTER_SECONDS))
        await this.deleteVolumes(row).catch(() => undefined);
    }
  }

  /** The host's ready copy of the image: one upload per host and image in this process, and across replicas through the row. */
  private copyOn(hostId: string, image: Image): Promise<HostImage> {
    const key = `${hostId}/${image.id}`;
    let work = this.inFlight.get(key);
    if (!work) {
      work = this.obtain(hostId, image).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, work);
    }
    return work;
  }

  private async obtain(hostId: string, image: Image): Promise<HostImage> {
    for (;;) {
      const row = await this.rows.find(hostId, image.id);
      if (row?.state === 'ready') return row;
      if (row) {
        // Another replica is uploading it: wait, unless its process died (then take over).
        const abandoned = await this.rows.removeIfAbandoned(hostId, image.id, ABANDONED_AFTER_SECONDS);
        if (abandoned) await this.deleteVolumes(abandoned);
        else await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
        continue;
      }
      const digest = image.sha256 ?? (await this.digestOf(image));
      const claim = { hostId, imageId: image.id, sha256: digest, sizeBytes: image.sizeBytes };
      const files = this.filesOf(image, digest);
      if (await this.rows.claim({ ...claim, volume: files[0].ref.name }))
        return this.upload(hostId, image, digest, files);
    }
  }

  /**
   * Uploads the image's files into the host's VM pool and marks the copy ready only when they are
   * known to have the digest it is named by: the files' stamp is the one recorded with the digest
   * before and after the upload (then they are read once, by the upload), or else they are hashed
   * while they are sent and the digest compared. On any failure the volumes and the row go again.
   * An identical image (same digest) already on the host is shared, not uploaded twice.
   */
  private async upload(hostId: string, image: Image, expected: string, files: UploadedFile[]): Promise<HostImage> {
    const port = this.ports.forHost(hostId);
    const hostName = this.ports.host(hostId)?.name ?? hostId;
    const heartbeat = setInterval(
      () => void this.rows.heartbeat(hostId, image.id).catch(() => undefined),
      HEARTBEAT_MS,
    );
    let created = false;
    try {
      const shared = await this.rows.readySibling(hostId, image.id, files[0].ref.name);
      if (!shared) {
        await this.storage.vmPool(hostId);
        const paths = files.map((file) => file.path);
        const before = await fileStamp(...paths);
        const trusted = image.sha256 === expected && image.sha256Stamp === before;
        const hash = trusted ? null : createHash('sha256');
        for (const file of files) {
          created = true;
          await settleBoth(this.uploadFile(port, hostId, image, file), hash ? hashInto(hash, file.path) : null);
        }
        const after = await fileStamp(...paths);
        const digest = hash?.digest('hex');
        if (hash ? digest !== expected : after !== before)
          throw new AppException(
            HttpStatus.CONFLICT,
            ErrorCode.CONFLICT,
            `The image ${image.name} no longer matches its sha256 ${expected} (its file in IMAGE_DIR changed since it was recorded, or while it was sent): nothing was kept on host ${hostName}. Put the original file back, or delete the image and add it again`,
          );
        if (hash && after === before) await this.images.recordSha256(image.id, expected, after);
      }
      await this.rows.markReady(hostId, image.id);
      this.logger.log(
        `image ${image.name} ${shared ? 'shared with an identical one' : 'uploaded'} on host ${hostName}`,
      );
      return (await this.rows.find(hostId, image.id))!;
    } catch (error) {
      if (created)
        await this.deleteVolumes({ hostId, imageId: image.id, volume: files[0].ref.name }).catch(() => undefined);
      await this.rows.delete(hostId, image.id);
      throw error;
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** A volume of that name no other copy on the host names is left over from a failed attempt: it goes and the upload runs again. */
  private async uploadFile(port: VirtualizationPort, hostId: string, image: Image, file: UploadedFile): Promise<void> {
    try {
      await port.uploadVolume(file.ref, file.path, { format: file.format });
    } catch (error) {
      if (
        !HypervisorError.is(error, 'VOLUME_EXISTS') ||
        (await this.rows.volumeSharedOnHost(hostId, image.id, file.ref.name))
      )
        throw error;
      await port.deleteVolume(file.ref);
      await port.uploadVolume(file.ref, file.path, { format: file.format });
    }
  }

  /**
   * The image's digest: computed once, here when a file found in IMAGE_DIR is first needed on a
   * remote host, and recorded with the files' stamp (none if they changed while being read).
   */
  private async digestOf(image: Image): Promise<string> {
    const paths = this.localFiles(image);
    const before = await fileStamp(...paths);
    const hash = createHash('sha256');
    for (const path of paths) await hashInto(hash, path);
    const digest = hash.digest('hex');
    const stamp = (await fileStamp(...paths)) === before ? before : null;
    await this.images.recordSha256(image.id, digest, stamp);
    Object.assign(image, { sha256: digest, sha256Stamp: stamp });
    return digest;
  }

  private localFiles(image: Image): string[] {
    if (image.kind !== 'kernel') return [image.path];
    const files = kernelFiles(image.path);
    if (!files) throw this.unusable(image, 'is not a kernel image with vmlinuz and initrd');
    return [files.kernel, files.initrd];
  }

  /** What the image becomes on a remote host: a disk or ISO one volume, a kernel image two (kernel, initrd). */
  private filesOf(image: Image, digest: string): UploadedFile[] {
    const [first, second] = this.localFiles(image);
    const pool = this.config.hypervisor.vmPool;
    if (image.kind === 'kernel')
      return [
        { path: first, ref: { pool, name: imageVolumeName(digest, 'img', 'kernel') }, format: 'raw' },
        { path: second, ref: { pool, name: imageVolumeName(digest, 'img', 'initrd') }, format: 'raw' },
      ];
    const format: VolumeFormat = image.kind === 'disk' ? (image.format ?? 'qcow2') : 'raw';
    const ext = image.kind === 'iso' ? 'iso' : format;
    return [{ path: first, ref: { pool, name: imageVolumeName(digest, ext) }, format }];
  }

  /** Deletes a copy and its row; a host that cannot be reached keeps both, for a later sweep. */
  private async removeCopy(row: HostImage): Promise<void> {
    try {
      await this.deleteVolumes(row);
      await this.rows.delete(row.hostId, row.imageId);
      this.logger.log(`removed the copy of image ${row.imageId} from host ${row.hostId}`);
    } catch (error) {
      this.logger.warn(
        `the copy of image ${row.imageId} stays on host ${row.hostId} for now: ${(error as Error).message}`,
      );
    }
  }

  /** The copy's volumes, unless another image's row on the host names the same (identical content). */
  private async deleteVolumes(row: Pick<HostImage, 'hostId' | 'imageId' | 'volume'>): Promise<void> {
    if (await this.rows.volumeSharedOnHost(row.hostId, row.imageId, row.volume)) return;
    const port = this.ports.forHost(row.hostId);
    for (const name of volumesOf(row)) await port.deleteVolume({ pool: this.config.hypervisor.vmPool, name });
  }

  private unusable(image: Image, why: string): AppException {
    return new AppException(HttpStatus.CONFLICT, ErrorCode.CONFLICT, `The image ${image.name} ${why}`);
  }
}

/** A kernel image's copy is two volumes, named alike. */
function volumesOf(row: Pick<HostImage, 'volume'>): string[] {
  const kernel = /-kernel\.img$/;
  return kernel.test(row.volume) ? [row.volume, row.volume.replace(kernel, '-initrd.img')] : [row.volume];
}

async function hashInto(hash: Hash, path: string): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
}

/** Both, to the end (no read left running after a failed upload); the first failure is thrown. */
async function settleBoth(a: Promise<unknown>, b: Promise<unknown> | null): Promise<void> {
  const [first, second] = await Promise.allSettled([a, b]);
  if (first.status === 'rejected') throw first.reason;
  if (second.status === 'rejected') throw second.reason;
}
