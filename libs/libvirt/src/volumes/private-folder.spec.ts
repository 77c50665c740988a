import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePrivateFolder } from './private-folder';

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
