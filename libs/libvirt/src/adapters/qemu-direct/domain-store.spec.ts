import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DomainStore } from './domain-store';

describe('DomainStore', () => {
  let dir: string;

  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'qd-store-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A domain.json as qemu-direct wrote it before NICs had ids. */
  function legacy(vmId: string, network?: Record<string, unknown>, mac?: string): void {
    mkdirSync(join(dir, 'domains', vmId), { recursive: true });
    const spec = {
      vmId,
      ownerId: 'o',
      vcpus: 1,
      memoryMiB: 64,
      disks: [],
      serialLogPath: '/l',
      ...(network ? { network } : {}),
    };
    writeFileSync(
      join(dir, 'domains', vmId, 'domain.json'),
      JSON.stringify({ spec, uuid: 'u', virtType: 'qemu', mac, createdAt: 'c' }),
    );
  }

  it('reads the single network of older definitions as nics, the NIC named after the VM', async () => {
    const store = new DomainStore(dir);
    legacy('vm-user', { mode: 'user' }, '52:54:00:AB:CD:EF');
    legacy('vm-bridge', { mode: 'network', network: 'br0', mac: '52:54:00:00:00:01' });
    legacy('vm-none', { mode: 'none' });
    legacy('vm-default');
    expect((await store.read('vm-user'))?.spec).toMatchObject({
      nics: [{ id: 'vm-user', mac: '52:54:00:ab:cd:ef', attachment: { type: 'user' } }],
    });
    expect((await store.read('vm-user'))?.spec).not.toHaveProperty('network');
    expect((await store.read('vm-bridge'))?.spec.nics).toEqual([
      { id: 'vm-bridge', mac: '52:54:00:00:00:01', attachment: { type: 'bridge', bridge: 'br0' } },
    ]);
    expect((await store.read('vm-none'))?.spec.nics).toEqual([]);
    // No network field: the spec already means one user-mode NIC with the derived MAC.
    expect((await store.read('vm-default'))?.spec.nics).toBeUndefined();
  });

  it('keeps unix sockets in short flat folders', () => {
    const store = new DomainStore('/var/lib/limen/qemu');
    expect(store.qgaSocket('vm-1')).toBe('/var/lib/limen/qemu/qga/vm-1.sock');
    expect(() => store.qgaSocket('../x')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
