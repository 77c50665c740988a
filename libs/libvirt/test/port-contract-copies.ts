import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DomainSpec, StoragePoolDefinition, VolumeRef } from '../src/models';
import { diskVolumeName, seedVolumeName, serialLogName } from '../src/naming/storage-name';
import { VirtualizationPort } from '../src/port/virtualization-port';
import { GUEST_MARKER, waitFor } from './guest-fixture';
import { ContractHarness, ContractSetup } from './port-contract';
import { contractPools } from './port-contract-storage';

const MIB = 1024 * 1024;
/** The first bytes of every qcow2 file ("QFI\xfb"). */
const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);
const HOSTILE_NAMES = ['../escape.qcow2', 'a/b.qcow2', '.hidden', "x'$(id)", ''];
/**
 * Guest data on the data disk, so a disk backup on a real host runs long enough (hundreds of ms)
 * for a second begin and an abort to meet it running.
 */
const BULK_MIB = 768;

async function rejectsWith(work: Promise<unknown>, code: string): Promise<void> {
  await expect(work).rejects.toMatchObject({ code });
}

/** The state the copies steps share: one VM with a boot disk, a data disk, a seed and a CD-ROM drive. */
class CopiesRun {
  readonly vmId = randomUUID();
  readonly bootDiskId = randomUUID();
  readonly dataDiskId = randomUUID();
  setup!: ContractSetup;
  pool!: StoragePoolDefinition;

  get port(): VirtualizationPort {
    return this.setup.port;
  }

  get localDir(): string {
    return this.setup.localDir;
  }

  volume(name: string): VolumeRef {
    return { pool: this.pool.name, name };
  }

  diskRef(diskId: string): VolumeRef {
    return this.volume(diskVolumeName(this.vmId, diskId));
  }

  pathOf(ref: VolumeRef): string {
    return join(this.pool.path, ref.name);
  }

  local(name: string): string {
    return join(this.localDir, name);
  }

  async start(harness: ContractHarness): Promise<void> {
    this.setup = await harness.setUp();
    ({ pool: this.pool } = contractPools(this.setup.runDir));
    await this.port.ensureStoragePool(this.pool);
  }

  async stop(): Promise<void> {
    await this.port.abortDiskBackup(this.vmId).catch(() => undefined);
    await this.port.destroy(this.vmId).catch(() => undefined);
    await this.port.undefineDomain(this.vmId, { removeVolumes: true, removeSeedIso: true }).catch(() => undefined);
    await this.port.close();
    this.setup.cleanup([this.pool.name]);
  }

  spec(): DomainSpec {
    const { guest } = this.setup;
    return {
      vmId: this.vmId,
      ownerId: `owner-${randomUUID()}`,
      vcpus: 1,
      memoryMiB: 128,
      virtType: 'qemu',
      machine: 'q35',
      disks: [
        { id: this.bootDiskId, path: this.pathOf(this.diskRef(this.bootDiskId)), serial: 'limen-boot' },
        { id: this.dataDiskId, path: this.pathOf(this.diskRef(this.dataDiskId)), serial: 'limen-data' },
      ],
      // Neither is copied by a disk backup: media, and the seed the VM's config rewrites.
      cdrom: {},
      seedIsoPath: this.pathOf(this.volume(seedVolumeName(this.vmId))),
      nics: [],
      serialLogPath: this.pathOf(this.volume(serialLogName(this.vmId))),
      kernel: { kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, cmdline: guest.cmdline },
    };
  }

  /**
   * Exports `ref`, checks the file (a qcow2 of the expected virtual size, private, nothing
   * partial left beside it) and uploads it again as `<name>`: what a restore does.
   */
  async roundTrip(
    ref: VolumeRef,
    name: string,
    options: { compress: boolean; snapshot?: string },
    virtualSizeBytes: number,
  ): Promise<{ restored: VolumeRef; sizeBytes: number }> {
    const file = this.local(`${name}.export`);
    const info = await this.port.exportVolume(ref, file, options);
    expect(info).toEqual({ sizeBytes: statSync(file).size, virtualSizeBytes });
    expect(readFileSync(file).subarray(0, 4).equals(QCOW2_MAGIC)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(this.localDir).filter((entry) => entry.includes('partial'))).toEqual([]);
    const restored = this.volume(name);
    const uploaded = await this.port.uploadVolume(restored, file, { format: 'qcow2' });
    // Standalone: the chain was merged into it.
    expect(uploaded).toMatchObject({ format: 'qcow2', virtualSizeBytes });
    expect(uploaded.backingPath).toBeUndefined();
    return { restored, sizeBytes: info.sizeBytes };
  }
}

/**
 * The copies calls of VirtualizationPort (issue 16): exportVolume, and disk backups of a running
 * domain (begin, wait, abort). Run unchanged against every adapter on the real hypervisor with
 * the tiny test guest (TCG) and against the in-memory fake; steps run in order on one VM.
 */
export function describeCopiesContract(
  adapterName: string,
  harness: ContractHarness,
  capabilities: { diskBackups: boolean } = { diskBackups: true },
): void {
  describe(`VirtualizationPort copies contract: ${adapterName}`, () => {
    const run = new CopiesRun();
    const backupIt = capabilities.diskBackups ? it : it.skip;
    beforeAll(() => run.start(harness));
    afterAll(() => run.stop());

    it('exports an overlay as one standalone qcow2 holding its backing data, and restores it', async () => {
      const { port, setup } = run;
      const base = run.volume('copies-base.qcow2');
      await port.createVolume({ ...base, sizeBytes: 32 * MIB });
      setup.files.fillDisk(run.pathOf(base), 0xab);
      const overlay = run.volume('copies-overlay.qcow2');
      await port.createVolume({ ...overlay, backing: { ...base, format: 'qcow2' } });

      const { restored } = await run.roundTrip(overlay, 'copies-restored.qcow2', { compress: false }, 32 * MIB);
      expect(setup.files.diskHolds(run.pathOf(restored), 0xab)).toBe(true);
      await port.deleteVolume(restored);

      // Replaced whole when the file exists (a retried export).
      const again = await port.exportVolume(overlay, run.local('copies-restored.qcow2.export'), { compress: false });
      expect(again.virtualSizeBytes).toBe(32 * MIB);
      await port.deleteVolume(overlay);
    });

    it('writes compressed clusters when asked: a smaller file of the same data', async () => {
      const { port, setup } = run;
      const base = run.volume('copies-base.qcow2');
      const plain = await run.roundTrip(base, 'copies-plain.qcow2', { compress: false }, 32 * MIB);
      const packed = await run.roundTrip(base, 'copies-packed.qcow2', { compress: true }, 32 * MIB);
      expect(packed.sizeBytes).toBeLessThan(plain.sizeBytes);
      expect(setup.files.diskHolds(run.pathOf(packed.restored), 0xab)).toBe(true);
      for (const ref of [plain.restored, packed.restored, base]) await port.deleteVolume(ref);
    });

    it('refuses missing volumes, hostile names and bad options, leaving no file', async () => {
      const { port } = run;
      const target = run.local('copies-refused.export');
      await rejectsWith(
        port.exportVolume(run.volume('copies-missing.qcow2'), target, { compress: true }),
        'VOLUME_NOT_FOUND',
      );
      for (const name of HOSTILE_NAMES)
        await rejectsWith(port.exportVolume(run.volume(name), target, { compress: true }), 'INVALID_ARGUMENT');
      await rejectsWith(
        port.exportVolume({ pool: 'limen-../x', name: 'a.qcow2' }, target, { compress: true }),
        'INVALID_ARGUMENT',
      );
      const some = run.volume('copies-some.qcow2');
      await port.createVolume({ ...some, sizeBytes: MIB });
      for (const path of ['relative.qcow2', join(run.localDir, 'no-such-folder', 'x.qcow2')])
        await rejectsWith(port.exportVolume(some, path, { compress: true }), 'INVALID_ARGUMENT');
      await rejectsWith(port.exportVolume(some, target, {} as { compress: boolean }), 'INVALID_ARGUMENT');
      await rejectsWith(port.exportVolume(some, target, { compress: true, snapshot: 'a b;rm' }), 'INVALID_ARGUMENT');
      expect(existsSync(target)).toBe(false);
      expect(readdirSync(run.localDir).filter((entry) => entry.includes('partial'))).toEqual([]);
      await port.deleteVolume(some);
    });

    it('exports the state of an internal snapshot of a stopped domain', async () => {
      const { port, setup, vmId } = run;
      await port.createVolume({ ...run.diskRef(run.bootDiskId), sizeBytes: 64 * MIB });
      await port.createVolume({ ...run.diskRef(run.dataDiskId), sizeBytes: (BULK_MIB + 64) * MIB });
      await port.createSeedIso({
        ...run.volume(seedVolumeName(vmId)),
        metaData: `instance-id: ${vmId}\n`,
        userData: '',
      });
      await port.defineDomain(run.spec());
      const bootPath = run.pathOf(run.diskRef(run.bootDiskId));
      setup.files.fillDisk(bootPath, 0x11);
      await port.createSnapshot(vmId, { name: 'copies-then' });
      setup.files.fillDisk(bootPath, 0x22);

      const then = await run.roundTrip(
        run.diskRef(run.bootDiskId),
        'copies-then.qcow2',
        { compress: true, snapshot: 'copies-then' },
        64 * MIB,
      );
      expect(setup.files.diskHolds(run.pathOf(then.restored), 0x11)).toBe(true);
      const now = await run.roundTrip(run.diskRef(run.bootDiskId), 'copies-now.qcow2', { compress: true }, 64 * MIB);
      expect(setup.files.diskHolds(run.pathOf(now.restored), 0x22)).toBe(true);
      for (const ref of [then.restored, now.restored]) await port.deleteVolume(ref);
      await rejectsWith(
        port.exportVolume(run.diskRef(run.bootDiskId), run.local('copies-nosnap.export'), {
          compress: true,
          snapshot: 'copies-never',
        }),
        'SNAPSHOT_NOT_FOUND',
      );
      expect(existsSync(run.local('copies-nosnap.export'))).toBe(false);
    });

    backupIt('refuses a disk backup of a stopped domain', async () => {
      const { port, vmId } = run;
      await rejectsWith(
        port.beginDiskBackup(vmId, [{ diskId: run.bootDiskId, target: run.volume('copies-stopped.qcow2') }]),
        'INVALID_STATE',
      );
      await rejectsWith(port.waitDiskBackup(vmId, { timeoutMs: 5_000 }), 'OPERATION_FAILED');
      await port.abortDiskBackup(vmId); // none running: fine
    });

    it("reads a running domain's disk only through a snapshot", async () => {
      const { port, setup, vmId } = run;
      setup.files.writeBulk(run.pathOf(run.diskRef(run.dataDiskId)), 0x5a, BULK_MIB);
      setup.files.fillDisk(run.pathOf(run.diskRef(run.dataDiskId)), 0x33);
      await port.start(vmId);
      await waitFor('guest marker', async () => (await port.tailSerialLog(vmId)).includes(GUEST_MARKER), 60_000);
      const file = run.local('copies-running.export');
      await rejectsWith(port.exportVolume(run.diskRef(run.bootDiskId), file, { compress: true }), 'INVALID_STATE');
      expect(existsSync(file)).toBe(false);
      const then = await run.roundTrip(
        run.diskRef(run.bootDiskId),
        'copies-live-then.qcow2',
        { compress: true, snapshot: 'copies-then' },
        64 * MIB,
      );
      expect(setup.files.diskHolds(run.pathOf(then.restored), 0x11)).toBe(true);
      await port.deleteVolume(then.restored);
    });

    backupIt(
      "backs up the running domain's disks into new volumes equal to the disks; one backup at a time",
      async () => {
        const { port, setup, vmId } = run;
        const bootCopy = run.volume(`${vmId}-backup-${run.bootDiskId}.qcow2`);
        const dataCopy = run.volume(`${vmId}-backup-${run.dataDiskId}.qcow2`);
        await port.beginDiskBackup(vmId, [
          { diskId: run.bootDiskId, target: bootCopy },
          { diskId: run.dataDiskId, target: dataCopy },
        ]);
        await rejectsWith(
          port.beginDiskBackup(vmId, [{ diskId: run.bootDiskId, target: run.volume('copies-second.qcow2') }]),
          'BUSY',
        );
        await port.waitDiskBackup(vmId, { timeoutMs: 120_000 });

        for (const [copy, diskId, byte, sizeMiB] of [
          [bootCopy, run.bootDiskId, 0x22, 64],
          [dataCopy, run.dataDiskId, 0x33, BULK_MIB + 64],
        ] as const) {
          const info = await port.getVolume(copy, 'qcow2');
          expect(info).toMatchObject({ format: 'qcow2', virtualSizeBytes: sizeMiB * MIB });
          expect(info.backingPath).toBeUndefined();
          expect(setup.files.diskHolds(info.path, byte)).toBe(true);
          expect(setup.files.sameGuestData(info.path, run.pathOf(run.diskRef(diskId)))).toBe(true);
        }
        // Neither the seed nor the CD-ROM drive was copied; the second begin left nothing.
        const names = setup.files
          .list(run.pool.path)
          .filter((name) => name.includes('backup') || name.includes('second'));
        expect(names.sort()).toEqual([bootCopy.name, dataCopy.name].sort());
        expect((await port.getDomain(vmId)).state).toBe('running');

        // The job is over: its wait is not repeated, and a new backup may start.
        await rejectsWith(port.waitDiskBackup(vmId, { timeoutMs: 5_000 }), 'OPERATION_FAILED');
        for (const ref of [bootCopy, dataCopy]) await port.deleteVolume(ref);
      },
      180_000,
    );

    backupIt('refuses unknown disks, existing targets and hostile names, creating nothing', async () => {
      const { port, setup, vmId } = run;
      const target = run.volume('copies-refused.qcow2');
      const existing = run.volume('copies-existing.qcow2');
      await port.createVolume({ ...existing, sizeBytes: MIB });
      await rejectsWith(port.beginDiskBackup(vmId, [{ diskId: randomUUID(), target }]), 'INVALID_ARGUMENT');
      await rejectsWith(port.beginDiskBackup(vmId, []), 'INVALID_ARGUMENT');
      await rejectsWith(
        port.beginDiskBackup(vmId, [
          { diskId: run.bootDiskId, target },
          { diskId: run.dataDiskId, target: existing },
        ]),
        'VOLUME_EXISTS',
      );
      for (const name of HOSTILE_NAMES)
        await rejectsWith(
          port.beginDiskBackup(vmId, [{ diskId: run.bootDiskId, target: run.volume(name) }]),
          'INVALID_ARGUMENT',
        );
      await rejectsWith(port.beginDiskBackup(vmId, [{ diskId: "x'/><disk name='vda", target }]), 'INVALID_ARGUMENT');
      await rejectsWith(port.beginDiskBackup(randomUUID(), [{ diskId: run.bootDiskId, target }]), 'DOMAIN_NOT_FOUND');
      expect(setup.files.exists(run.pathOf(target))).toBe(false);
      await port.deleteVolume(existing);
    });

    backupIt(
      'aborts a running disk backup: its wait fails, its targets stay for the caller',
      async () => {
        const { port, setup, vmId } = run;
        const target = run.volume('copies-aborted.qcow2');
        await port.beginDiskBackup(vmId, [{ diskId: run.dataDiskId, target }]);
        await port.abortDiskBackup(vmId);
        await rejectsWith(port.waitDiskBackup(vmId, { timeoutMs: 60_000 }), 'OPERATION_FAILED');
        await port.abortDiskBackup(vmId); // none running: fine
        expect((await port.getDomain(vmId)).state).toBe('running');
        await port.deleteVolume(target);
        expect(setup.files.exists(run.pathOf(target))).toBe(false);

        // Nothing is left running: the next backup starts.
        const next = run.volume('copies-next.qcow2');
        await port.beginDiskBackup(vmId, [{ diskId: run.bootDiskId, target: next }]);
        await port.waitDiskBackup(vmId, { timeoutMs: 60_000 });
        expect(setup.files.diskHolds(run.pathOf(next), 0x22)).toBe(true);
        await port.deleteVolume(next);
      },
      120_000,
    );
  });
}
