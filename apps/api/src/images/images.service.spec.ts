import { HttpException } from '@nestjs/common';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VmRepository } from '../vms/vm.repository';
import { Image } from './image.entity';
import { ImageRepository } from './image.repository';
import { AuthUser } from '../auth/decorators';
import { imageVisibleTo, ImagesService } from './images.service';

const ADMIN: AuthUser = { id: 'root', username: 'admin', role: 'admin' };
const ALICE: AuthUser = { id: 'alice', username: 'alice', role: 'user' };
const BOB: AuthUser = { id: 'bob', username: 'bob', role: 'user' };

const refusal = (call: Promise<unknown>) =>
  call.then(
    () => 'accepted',
    (error: HttpException & { code: string }) => `${error.getStatus()} ${error.code}`,
  );

class FakeImageRepository implements Partial<ImageRepository> {
  readonly rows = new Map<string, Image>();

  async find(id: string) {
    return this.rows.get(id) ?? null;
  }

  async delete(id: string) {
    this.rows.delete(id);
  }
}

/** VMs as the images they boot from or have inserted. */
class FakeVmRepository implements Partial<VmRepository> {
  readonly vms: Array<{ imageId: string | null; mediaImageId: string | null }> = [];

  async countUsingImage(imageId: string) {
    return this.vms.filter((vm) => vm.imageId === imageId || vm.mediaImageId === imageId).length;
  }
}

describe('ImagesService.remove', () => {
  let dir: string;
  let images: FakeImageRepository;
  let vms: FakeVmRepository;
  let service: ImagesService;
  let image: Image;
  let forgotten: string[];

  beforeEach(() => {
    forgotten = [];
    dir = mkdtempSync(join(tmpdir(), 'limen-images-'));
    images = new FakeImageRepository();
    vms = new FakeVmRepository();
    service = new ImagesService(
      { hypervisor: { imageDir: dir } } as never,
      images as unknown as ImageRepository,
      vms as unknown as VmRepository,
      {} as never,
      {} as never,
      { forget: async (id: string) => void forgotten.push(id) } as never,
    );
    image = Object.assign(new Image(), {
      id: 'img-1',
      name: 'debian.qcow2',
      kind: 'disk',
      path: join(dir, 'debian.qcow2'),
      ownerId: null,
      visibility: 'public',
      state: 'ready',
    });
    writeFileSync(image.path, 'qcow2');
    images.rows.set(image.id, image);
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is refused with 409 IMAGE_IN_USE while a VM boots from the image or has it inserted, keeping row and file', async () => {
    vms.vms.push({ imageId: 'img-1', mediaImageId: null });
    expect(await refusal(service.remove(ADMIN, 'img-1'))).toBe('409 IMAGE_IN_USE');
    vms.vms.splice(0, 1, { imageId: 'other', mediaImageId: 'img-1' });
    expect(await refusal(service.remove(ADMIN, 'img-1'))).toBe('409 IMAGE_IN_USE');
    expect(images.rows.has('img-1')).toBe(true);
    expect(existsSync(image.path)).toBe(true);
    expect(forgotten).toEqual([]);
  });

  it("deletes the row, the file and the image's copies on other hosts once no VM uses it", async () => {
    vms.vms.push({ imageId: 'other', mediaImageId: null });
    expect(await refusal(service.remove(ADMIN, 'img-1'))).toBe('accepted');
    expect(images.rows.has('img-1')).toBe(false);
    expect(existsSync(image.path)).toBe(false);
    expect(forgotten).toEqual(['img-1']);
  });

  it('answers 404 for an image that does not exist', async () => {
    expect(await refusal(service.remove(ADMIN, 'nope'))).toBe('404 NOT_FOUND');
  });

  describe('of a template', () => {
    beforeEach(() => Object.assign(image, { ownerId: 'alice', visibility: 'private' }));

    it('its owner deletes it; another user gets 404 while it is private, 403 once published', async () => {
      expect(await refusal(service.remove(BOB, 'img-1'))).toBe('404 NOT_FOUND');
      image.visibility = 'public';
      expect(await refusal(service.remove(BOB, 'img-1'))).toBe('403 FORBIDDEN');
      expect(await refusal(service.remove(ALICE, 'img-1'))).toBe('accepted');
      expect(images.rows.has('img-1')).toBe(false);
    });

    it('is refused with 409 while it is being written', async () => {
      image.state = 'creating';
      expect(await refusal(service.remove(ALICE, 'img-1'))).toBe('409 INVALID_STATE');
      expect(existsSync(image.path)).toBe(true);
    });
  });
});

describe('imageVisibleTo', () => {
  const image = (fields: Partial<Image>) =>
    Object.assign(new Image(), { ownerId: null, visibility: 'public', state: 'ready', ...fields });

  it('files and uploads: everyone; a private template: its owner and admins; a public one: everyone once ready', () => {
    expect(imageVisibleTo(image({}), BOB)).toBe(true);
    const template = image({ ownerId: 'alice', visibility: 'private' });
    expect([ALICE, BOB, ADMIN].map((user) => imageVisibleTo(template, user))).toEqual([true, false, true]);
    const published = image({ ownerId: 'alice' });
    expect(imageVisibleTo(published, BOB)).toBe(true);
    expect(imageVisibleTo({ ...published, state: 'creating' } as Image, BOB)).toBe(false);
    expect(imageVisibleTo({ ...published, state: 'creating' } as Image, ALICE)).toBe(true);
  });
});
