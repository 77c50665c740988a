import { existsSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteVmFolder, ensurePrivateFolder, makeVmFolder } from './private-folder';

describe('ensurePrivateFolder', () => {
  const base = () => mkdtempSync(join(tmpdir(), 'limen-private-'));
  let umask: number;
  beforeEach(() => (umask = process.umask(0o022)));
  afterEach(() => process.umask(umask));

  it("security 11.5: gives a VM folder to QEMU's group, 0750, and no one else any access", async () => {
    const folder = join(base(), 'vms', 'vm-1');
    await ensurePrivateFolder(folder, 64055);
    expect(statSync(folder).mode & 0o777).toBe(0o750);
    expect(statSync(folder).gid).toBe(64055);
    expect(statSync(join(folder, '..')).mode & 0o777).toBe(0o755); // VM_DIR stays traversable
  });

  it('security 11.5: makes an existing world-readable folder private, 0700 when QEMU runs as the api itself', async () => {
    const folder = join(base(), 'vm-2');
    mkdirSync(folder, { mode: 0o755 });
    await ensurePrivateFolder(folder);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
  });
});

describe('makeVmFolder and deleteVmFolder', () => {
  it('make a private folder and remove it with its files, idempotently', async () => {
    const folder = join(mkdtempSync(join(tmpdir(), 'limen-vmfolder-')), 'vm-3');
    await makeVmFolder(folder);
    await makeVmFolder(folder);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    writeFileSync(join(folder, 'disk.qcow2'), 'x');
    await deleteVmFolder(folder);
    expect(existsSync(folder)).toBe(false);
    await deleteVmFolder(folder);
  });

  it.each(['relative/vm', '/', '/var/lib/limen/vms/../../etc', '/var//lib'])('refuse %s', async (folder) => {
    await expect(deleteVmFolder(folder)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(makeVmFolder(folder)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
