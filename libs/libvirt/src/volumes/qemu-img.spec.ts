import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QemuImg } from './qemu-img';

/** Against the real qemu-img: what an overlay may be layered on. */
describe('QemuImg and image chains', () => {
  const qemuImg = new QemuImg();
  let dir: string;
  let victim: string;
  const make = (...args: string[]) => execFileSync('qemu-img', ['create', '-q', ...args]);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'limen-qemu-img-'));
    victim = join(dir, 'other-vm-seed.iso');
    writeFileSync(victim, Buffer.alloc(1024 * 1024, 7));
  });

  it('security 11.6: refuses to layer a VM disk over an image with a backing file of its own', async () => {
    const chained = join(dir, 'chained.qcow2');
    make('-f', 'qcow2', '-b', victim, '-F', 'raw', chained, '64M');
    expect(await qemuImg.info(chained, 'qcow2')).toMatchObject({ format: 'qcow2', backingPath: victim });
    const overlay = join(dir, 'disk.qcow2');
    await expect(
      qemuImg.createFile({
        format: 'qcow2',
        path: overlay,
        sizeBytes: 64 << 20,
        backingPath: chained,
        backingFormat: 'qcow2',
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(existsSync(overlay)).toBe(false);
  });

  it('security 11.6: refuses to layer a VM disk over a qcow2 whose data lives in an external data file', async () => {
    const external = join(dir, 'external.qcow2');
    make('-f', 'qcow2', '-o', `data_file=${victim},data_file_raw=on`, external, '1M');
    expect(await qemuImg.info(external, 'qcow2')).toMatchObject({ dataFilePath: victim });
    await expect(
      qemuImg.createFile({
        format: 'qcow2',
        path: join(dir, 'disk.qcow2'),
        sizeBytes: 64 << 20,
        backingPath: external,
        backingFormat: 'qcow2',
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('security 11.6: never probes a backing format: a raw image holding a qcow2 header stays raw', async () => {
    const chained = join(dir, 'chained.qcow2');
    make('-f', 'qcow2', '-b', victim, '-F', 'raw', chained, '64M');
    const disguised = join(dir, 'disguised.img');
    copyFileSync(chained, disguised);
    expect(await qemuImg.info(disguised, 'raw')).toEqual(expect.objectContaining({ format: 'raw' }));
    expect(await qemuImg.info(disguised, 'raw')).not.toHaveProperty('backingPath');
    await expect(
      qemuImg.createFile({
        format: 'qcow2',
        path: join(dir, 'unpinned.qcow2'),
        sizeBytes: 64 << 20,
        backingPath: disguised,
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });

    const overlay = join(dir, 'disk.qcow2');
    await qemuImg.createFile({
      format: 'qcow2',
      path: overlay,
      sizeBytes: 64 << 20,
      backingPath: disguised,
      backingFormat: 'raw',
    });
    const chain = JSON.parse(
      execFileSync('qemu-img', ['info', '-U', '--backing-chain', '--output=json', overlay], { encoding: 'utf8' }),
    ) as Array<{ filename: string; format: string }>;
    expect(chain.map((layer) => [layer.filename, layer.format])).toEqual([
      [overlay, 'qcow2'],
      [disguised, 'raw'],
    ]);
  });

  it('layers a VM disk over a standalone image', async () => {
    const base = join(dir, 'base.qcow2');
    make('-f', 'qcow2', base, '64M');
    expect(
      await qemuImg.createFile({
        format: 'qcow2',
        path: join(dir, 'disk.qcow2'),
        backingPath: base,
        backingFormat: 'qcow2',
      }),
    ).toMatchObject({ format: 'qcow2', backingPath: base, virtualSizeBytes: 64 << 20 });
  });
});
