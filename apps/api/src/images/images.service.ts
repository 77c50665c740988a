import { HttpStatus, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HypervisorError, ImageFileInspection, inspectImageFile, VolumeFormat } from '@limen/libvirt';
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppConfig } from '../config/app-config';
import { PageQueryDto } from '../common/page-query.dto';
import { AppException, ErrorCode } from '../common/problem';
import { liftRequestDeadline } from '../common/request-deadline';
import { Transactions } from '../database/transaction';
import { VmRepository } from '../vms/vm.repository';
import { fileStamp } from './file-stamp';
import { HostImageCache } from './host-image-cache';
import { AuthUser } from '../auth/decorators';
import { Image, ImageKind, ImageVisibility } from './image.entity';
import { ImageRepository } from './image.repository';
import { diskFormatOf, scanImageDir } from './image-scanner';
import { UploadTooSlowError, withMinimumProgress } from './upload-progress';
import { UploadSlots } from './upload-slots';

/**
 * Who may see and use an image: admins any; others their own templates (being written or not),
 * and public images once ready (files in IMAGE_DIR and uploads are public; templates are private
 * until an admin publishes them).
 */
export function imageVisibleTo(image: Image, user: AuthUser): boolean {
  return (
    user.role === 'admin' ||
    (image.ownerId !== null && image.ownerId === user.id) ||
    (image.visibility === 'public' && image.state === 'ready')
  );
}

@Injectable()
export class ImagesService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Images');

  constructor(
    private readonly config: AppConfig,
    private readonly images: ImageRepository,
    private readonly vms: VmRepository,
    private readonly transactions: Transactions,
    private readonly uploadSlots: UploadSlots,
    private readonly hostCopies: HostImageCache,
  ) {}

  private get dir(): string {
    return this.config.hypervisor.imageDir;
  }

  async onApplicationBootstrap(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const summary = await this.rescan();
    this.logger.log(`IMAGE_DIR ${this.dir}: ${summary.items.length} image(s)`);
  }

  /** Brings the table in line with IMAGE_DIR: new files appear, vanished ones become unavailable. */
  async rescan(): Promise<{ items: Image[] }> {
    const found = scanImageDir(this.dir);
    const paths = found.map((f) => f.path);
    await this.transactions.run(async (tx) => {
      for (const image of found) await this.images.upsertFound(tx, image);
      await this.images.markUnavailableExcept(tx, paths);
    });
    return { items: await this.images.allByName() };
  }

  /** The images `user` may see (imageVisibleTo), newest first. */
  list(user: AuthUser, page: PageQueryDto): Promise<{ items: Image[]; nextCursor: string | null }> {
    return this.images.page(page, user.role === 'admin' ? undefined : user.id);
  }

  /** Any image by id, whoever may see it: for the work on VMs that already use it. */
  async get(id: string): Promise<Image> {
    const image = await this.images.find(id);
    if (!image) throw AppException.notFound('Image');
    return image;
  }

  /** An image `user` may see; anyone else gets 404, so a private template's existence does not leak. */
  async visible(user: AuthUser, id: string): Promise<Image> {
    const image = await this.images.find(id);
    if (!image || !imageVisibleTo(image, user)) throw AppException.notFound('Image');
    return image;
  }

  /** Publishes a template to every user, or makes an image private again (admins). */
  async setVisibility(id: string, visibility: ImageVisibility): Promise<Image> {
    await this.get(id);
    await this.images.setVisibility(id, visibility);
    return this.get(id);
  }

  /** A disk image's virtual size, read as the format its name gives (never probed). */
  async virtualSizeOf(image: Image): Promise<number> {
    return (await inspectImageFile(image.path, image.format ?? 'qcow2')).virtualSizeBytes;
  }

  /**
   * An available image of one of the given kinds; otherwise a 400 naming the field. A disk image
   * is checked again here, since files can be placed in IMAGE_DIR by hand (see standaloneProblem).
   */
  async usable(user: AuthUser, id: string, kinds: readonly ImageKind[], field: string): Promise<Image> {
    const image = await this.images.find(id);
    // An image `user` may not see is answered as one that does not exist.
    if (
      !image ||
      !imageVisibleTo(image, user) ||
      image.state !== 'ready' ||
      !image.available ||
      !kinds.includes(image.kind)
    ) {
      throw new AppException(
        HttpStatus.BAD_REQUEST,
        ErrorCode.VALIDATION_FAILED,
        `${field} does not name an available ${kinds.join(' or ')} image`,
        {
          errors: [{ field, messages: [`${field} must be the id of an available ${kinds.join(' or ')} image`] }],
        },
      );
    }
    const problem = image.kind === 'disk' ? await this.standaloneProblem(image.path, image.format ?? 'qcow2') : null;
    if (problem) {
      throw new AppException(
        HttpStatus.BAD_REQUEST,
        ErrorCode.VALIDATION_FAILED,
        `${field} names an image that ${problem}`,
        { errors: [{ field, messages: [`${field} names an image that ${problem}`] }] },
      );
    }
    return image;
  }

  /**
   * Streams an upload to a hidden temporary file, hashing and counting as it
   * goes, and only renames it into place once it is complete and within the limit.
   * It takes one of the upload slots (UploadSlots) while it runs, and instead of the request
   * deadline it must keep up a minimum rate (withMinimumProgress), so it may take as long as
   * its size needs. Whenever it fails before the body has arrived, the connection is closed
   * with the answer, so the rest of the body is not read.
   */
  async upload(
    name: string,
    request: Readable,
    declaredLength: number | undefined,
    uploaderId: string,
  ): Promise<Image> {
    const limit = this.config.hypervisor.maxImageUploadBytes;
    if (declaredLength !== undefined && declaredLength > limit) throw this.tooLarge(limit);
    const target = join(this.dir, name);
    if (existsSync(target) || (await this.images.existsWithPath(target))) {
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.CONFLICT,
        `An image named ${name} already exists`,
        {},
        { Connection: 'close' },
      );
    }
    const release = this.uploadSlots.acquire(uploaderId);
    try {
      return await this.receive(name, target, request, limit);
    } finally {
      release();
    }
  }

  private async receive(name: string, target: string, request: Readable, limit: number): Promise<Image> {
    const { minBytesPerSecond, progressWindowSeconds } = this.config.imageUploads;
    liftRequestDeadline(request);
    const partial = join(this.dir, `.upload-${randomUUID()}.part`);
    const hash = createHash('sha256');
    let size = 0;
    try {
      await pipeline(
        withMinimumProgress(request, minBytesPerSecond, progressWindowSeconds),
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            size += chunk.length;
            if (size > limit) throw new RangeError('upload exceeds the limit');
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(partial, { flags: 'wx', mode: 0o644 }),
      );
      if (size === 0)
        throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, 'The upload is empty');
      const format = diskFormatOf(name);
      const problem = format ? await this.standaloneProblem(partial, format) : null;
      if (problem) throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, `The image ${problem}`);
      await rename(partial, target);
    } catch (error) {
      await rm(partial, { force: true });
      if (error instanceof RangeError) throw this.tooLarge(limit);
      if (error instanceof UploadTooSlowError) {
        throw new AppException(
          HttpStatus.REQUEST_TIMEOUT,
          ErrorCode.REQUEST_TIMEOUT,
          `The upload sent ${error.message}; nothing was kept`,
          {},
          { Connection: 'close' },
        );
      }
      throw error;
    }
    const [found] = scanImageDir(this.dir).filter((f) => f.path === target);
    return this.images.save({
      ...found,
      sizeBytes: size,
      sha256: hash.digest('hex'),
      sha256Stamp: await fileStamp(target),
      available: true,
    });
  }

  /**
   * Deletes the image, its file and its copies on other hosts (those down keep theirs until the
   * cache's sweep reaches them); refused while any VM boots from it or has it inserted, and while a
   * template is still being written. Admins delete any image, users their own templates (403 for
   * another image they can see); the row's going releases a template's `backupGiB`.
   */
  async remove(user: AuthUser, id: string): Promise<void> {
    const image = await this.visible(user, id);
    if (user.role !== 'admin' && image.ownerId !== user.id)
      throw new AppException(HttpStatus.FORBIDDEN, ErrorCode.FORBIDDEN, 'Only admins delete images they did not make');
    if (image.state !== 'ready')
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, 'The template is still being written');
    const count = await this.vms.countUsingImage(id);
    if (count > 0) {
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.IMAGE_IN_USE, `The image is used by ${count} VM(s)`);
    }
    await this.images.delete(id);
    await rm(image.path, { recursive: true, force: true });
    await this.hostCopies.forget(id);
  }

  /**
   * Why a disk image cannot be used, or null. It is read as the format its name gives (a raw
   * image is never taken for a qcow2 by its content), and may have neither a backing file nor an
   * external data file: either would have QEMU open another file, such as another tenant's disk
   * or seed ISO, for every VM made from it.
   */
  private async standaloneProblem(path: string, format: VolumeFormat): Promise<string | null> {
    let info: ImageFileInspection;
    try {
      // IMAGE_DIR is the api's own folder, whichever host a VM runs on.
      info = await inspectImageFile(path, format);
    } catch (error) {
      if (HypervisorError.is(error, 'OPERATION_FAILED')) return `is not a valid ${format} file`;
      if (HypervisorError.is(error, 'VOLUME_NOT_FOUND')) return 'is missing from IMAGE_DIR';
      throw error;
    }
    if (!info.standalone) {
      return 'depends on another file (a backing file or an external data file); flatten it first, e.g. qemu-img convert -O qcow2 in.qcow2 out.qcow2';
    }
    return null;
  }

  private tooLarge(limit: number): AppException {
    return new AppException(
      HttpStatus.PAYLOAD_TOO_LARGE,
      ErrorCode.PAYLOAD_TOO_LARGE,
      `Images may be at most ${limit} bytes`,
      {},
      { Connection: 'close' },
    );
  }
}
