import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GUEST_MARKER } from '../../test/guest-fixture';
import { ContractFiles, ContractHarness, describePortContract } from '../../test/port-contract';
import { describeCopiesContract } from '../../test/port-contract-copies';
import { HypervisorError } from '../errors/hypervisor-error';
import { DomainEvent, DomainSpec } from '../models';
import { FakeVirtualizationPort } from '.';

const PATTERN_BYTES = 64 * 1024;

/** The fake's in-memory files, seen through the contract's eyes. */
function fakeFiles(fake: FakeVirtualizationPort): ContractFiles {
  const { files } = fake;
  return {
    exists: (path) => files.file(path) !== undefined || files.folder(path) !== undefined,
    mode: (path) => (files.file(path) ?? files.folder(path))!.mode,
    size: (path) => files.file(path)!.virtualSizeBytes,
    list: (folder) => files.list(folder),
    fillDisk: (path, byte) => files.write(path, Buffer.alloc(PATTERN_BYTES, byte)),
    diskHolds: (path, byte) => files.read(path, 0, PATTERN_BYTES).equals(Buffer.alloc(PATTERN_BYTES, byte)),
    // The fake's copies take no time whatever the data: nothing to add.
    writeBulk: () => undefined,
    sameGuestData: (a, b) => files.require(a).content.equals(files.require(b).content),
    seedLabel: (path) => files.file(path)?.label ?? '',
    seedDocument: (path, name) => {
      const text = files.file(path)?.documents?.[name];
      return text === undefined ? [] : [Buffer.from(text, 'utf8')];
    },
    makeIso: (folder, name) => {
      const path = join(folder, `${name}.iso`);
      files.put(path, { format: 'raw', sizeBytes: 360 * 1024 });
      return path;
    },
  };
}

const fakeHarness: ContractHarness = {
  realGuest: false,
  async setUp() {
    const port = new FakeVirtualizationPort({ bootOutput: `${GUEST_MARKER}\n` });
    port.setHostRoutes(['192.0.2.0/24']); // as on a host with one LAN
    const guest = { kernelPath: '/fake/test-guest/vmlinuz', initrdPath: '/fake/test-guest/initrd.img', cmdline: '' };
    // Uploads and downloads read and write real local files.
    const localDir = mkdtempSync(join(tmpdir(), 'limen-fake-contract-'));
    return {
      port,
      runDir: `/var/lib/limen/fake-runs/${randomUUID()}`,
      localDir,
      files: fakeFiles(port),
      guest,
      cleanup: () => rmSync(localDir, { recursive: true, force: true }),
    };
  },
};

// Skipped here: the two cases that need a real guest behind a real QEMU (the serial console's tty
// echo through QEMU's pty, and the RFB greeting of QEMU's VNC server).
describePortContract('in-memory fake', fakeHarness);
describeCopiesContract('in-memory fake', fakeHarness);

describe('FakeVirtualizationPort test controls', () => {
  const vmId = randomUUID();
  const disk = { pool: 'limen-vms', name: 'disk.qcow2' };
  const spec: DomainSpec = {
    vmId,
    ownerId: 'owner-1',
    vcpus: 1,
    memoryMiB: 128,
    disks: [{ path: '/vms/disk.qcow2' }],
    vnc: { enabled: true },
    serialLogPath: '/vms/serial.log',
  };
  let fake: FakeVirtualizationPort;
  let events: DomainEvent[];

  beforeEach(async () => {
    fake = new FakeVirtualizationPort();
    events = [];
    fake.events().subscribe((event) => events.push(event));
    await fake.ensureStoragePool({ name: 'limen-vms', type: 'dir', path: '/vms' });
    await fake.createVolume({ ...disk, sizeBytes: 1024 ** 3 });
    await fake.defineDomain(spec);
  });

  it('relays consoles to the test playing the guest, and ends them when the VM stops', async () => {
    await fake.start(vmId);
    const serial = await fake.openConsole(vmId, 'serial');
    const received: string[] = [];
    serial.on('data', (chunk: Buffer) => received.push(chunk.toString()));
    const guest = fake.consoles.guestSide(vmId, 'serial')!;
    const typed = new Promise<string>((resolve) => guest.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    serial.write('ls\r');
    expect(await typed).toBe('ls\r');
    fake.guestOutput(vmId, 'hello\n');
    const ended = new Promise((resolve) => serial.once('end', resolve));
    await fake.destroy(vmId);
    await ended;
    expect(received.join('')).toBe('hello\n');
    expect(await fake.tailSerialLog(vmId)).toBe('hello\n');
  });

  it('reports a crash as libvirt does: shut off with reason crashed, and a stopped/failed event', async () => {
    await fake.start(vmId);
    fake.crash(vmId);
    expect(await fake.getDomain(vmId)).toMatchObject({ state: 'shutoff', shutoffReason: 'crashed' });
    expect(events.at(-1)).toMatchObject({ kind: 'lifecycle', vmId, type: 'stopped', detail: 'failed' });
  });

  it('times out or forces a shutdown the guest ignores', async () => {
    await fake.start(vmId);
    fake.ignoreAcpi(vmId);
    await expect(fake.shutdown(vmId, { timeoutMs: 10 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(await fake.shutdown(vmId, { forceAfterTimeout: true })).toEqual({ forced: true });
    expect(await fake.getDomain(vmId)).toMatchObject({ state: 'shutoff', shutoffReason: 'destroyed' });
  });

  it('answers with injected failures, records calls, and goes down on request', async () => {
    fake.failNext('start', new HypervisorError('OPERATION_FAILED', 'no'));
    await expect(fake.start(vmId)).rejects.toMatchObject({ code: 'OPERATION_FAILED' });
    await fake.start(vmId);
    expect(fake.calls.filter((call) => call.method === 'start')).toEqual([
      { method: 'start', args: [vmId] },
      { method: 'start', args: [vmId] },
    ]);
    fake.setUnavailable(true);
    await expect(fake.getDomain(vmId)).rejects.toMatchObject({ code: 'HYPERVISOR_UNAVAILABLE' });
  });

  it('refuses to start a domain whose storage is missing', async () => {
    await fake.deleteVolume(disk);
    await expect(fake.start(vmId)).rejects.toMatchObject({ code: 'OPERATION_FAILED' });
  });

  it('shares one filesystem among its pools: a test lowers its capacity to run out of space', async () => {
    const [pool] = await fake.listStoragePools();
    fake.storage.capacityBytes = pool.allocationBytes + 100_000;
    expect((await fake.listStoragePools())[0]).toMatchObject({ availableBytes: 100_000 });
    await expect(fake.createVolume({ ...disk, name: 'big.qcow2', sizeBytes: 1024 ** 3 })).rejects.toMatchObject({
      code: 'INSUFFICIENT_STORAGE',
    });
    expect(fake.files.file('/vms/big.qcow2')).toBeUndefined();
    await fake.createVolume({ ...disk, name: 'raw.img', sizeBytes: 1024 ** 3, format: 'raw' }); // sparse
  });

  it('fails a disk backup on request: its wait rejects with that error, and the next backup may start', async () => {
    const diskId = randomUUID();
    await fake.redefineDomain({ ...spec, disks: [{ id: diskId, path: '/vms/disk.qcow2' }] });
    await fake.start(vmId);
    const target = { pool: 'limen-vms', name: 'copy.qcow2' };
    await fake.beginDiskBackup(vmId, [{ diskId, target }]);
    fake.failDiskBackup(vmId, new HypervisorError('OPERATION_FAILED', 'the target disk broke'));
    await expect(fake.waitDiskBackup(vmId)).rejects.toThrow('the target disk broke');
    await fake.deleteVolume(target);
    await fake.beginDiskBackup(vmId, [{ diskId, target }]);
    await fake.waitDiskBackup(vmId);
    expect((await fake.getVolume(target, 'qcow2')).virtualSizeBytes).toBe(1024 ** 3);
  });

  it('charges the RAM of a running snapshot to the first disk', async () => {
    const before = (await fake.getVolume(disk)).actualSizeBytes;
    await fake.start(vmId);
    await fake.createSnapshot(vmId, { name: 's1' });
    expect((await fake.getVolume(disk)).actualSizeBytes - before).toBe(128 * 1024 * 1024);
    await fake.deleteSnapshot(vmId, 's1');
    expect((await fake.getVolume(disk)).actualSizeBytes).toBe(before);
  });
});
