import { Observable } from 'rxjs';
import { HypervisorError } from '../../errors/hypervisor-error';
import { DiskSpec, DomainSpec, SetResourceResult } from '../../models';
import { assertDiskId, diskAlias, diskIdFromAlias } from '../../naming/disk-name';
import { domainNameFor } from '../../naming/domain-name';
import { QmpClient, QmpEvent } from '../../qmp/qmp-client';
import { assertSizeBytes, checkGrowth } from '../../volumes/disk-size';
import { QemuImg } from '../../volumes/qemu-img';
import { diskTargets, MAX_DISKS, scsiDiskTarget, scsiUnitOf, validateDisk } from '../../xml/spec-validation';
import {
  diskBlockdev,
  diskDeviceProps,
  diskNodeName,
  DiskPlacement,
  diskPortId,
  SCSI_CONTROLLER_ID,
} from './disk-argv';
import { deviceDeleted } from './device-deleted';
import { DomainStore, StoredDomain } from './domain-store';

type IdDisk = DiskSpec & { id: string };

function invalid(message: string): never {
  throw new HypervisorError('INVALID_ARGUMENT', message);
}

/**
 * The name under which query-blockstats counts a disk (its target, as libvirt's domstats names
 * it): `drive-<target>` backends of -drive, and the device path of a disk with an id.
 */
export function blockStatsTarget(entry: { device: string; qdev?: string }, spec: DomainSpec): string | undefined {
  if (entry.device.startsWith('drive-')) return entry.device.slice('drive-'.length);
  // qdev is the device's id (scsi-hd), or the QOM path of an id-less one (virtio-blk-pci's backend).
  const qdev = entry.qdev ?? '';
  const alias = qdev.startsWith('/') ? /^\/machine\/peripheral\/([^/]+)/.exec(qdev)?.[1] : qdev;
  const id = diskIdFromAlias(alias);
  const index = id === undefined ? -1 : spec.disks.findIndex((disk) => disk.id === id);
  return index >= 0 ? diskTargets(spec.disks)[index] : undefined;
}

/** The ids of the devices added with an id (`-device id=…`, device_add): QEMU's /machine/peripheral. */
async function peripheralIds(qmp: QmpClient): Promise<Set<string>> {
  const children = await qmp.execute<Array<{ name: string; type: string }>>('qom-list', {
    path: '/machine/peripheral',
  });
  return new Set(children.filter((child) => child.type.startsWith('child<')).map((child) => child.name));
}

interface PciDevice {
  qdev_id?: string;
  pci_bridge?: { devices?: unknown[] };
}

/** The first disk port with nothing behind it (q35); undefined when all are taken. */
async function freeDiskPort(qmp: QmpClient): Promise<string | undefined> {
  const devices = (await qmp.execute<Array<{ devices: PciDevice[] }>>('query-pci')).flatMap((bus) => bus.devices);
  const free = new Set(
    devices.filter((device) => (device.pci_bridge?.devices ?? []).length === 0).map((device) => device.qdev_id),
  );
  return Array.from({ length: MAX_DISKS }, (_, index) => diskPortId(index)).find((port) => free.has(port));
}

/** The first SCSI disk unit no device of the running QEMU uses (the spec's targets may have shifted since it started). */
async function freeScsiTarget(qmp: QmpClient, ids: Set<string>): Promise<string> {
  const used = new Set<number>();
  for (const id of ids) {
    const type = await qmp.execute<string>('qom-get', { path: `/machine/peripheral/${id}`, property: 'type' });
    if (type !== 'scsi-hd' && type !== 'scsi-cd') continue;
    used.add(await qmp.execute<number>('qom-get', { path: `/machine/peripheral/${id}`, property: 'scsi-id' }));
  }
  const target = Array.from({ length: 24 }, (_, index) => scsiDiskTarget(index)).find(
    (candidate) => !used.has(scsiUnitOf(candidate)),
  );
  if (!target) invalid('no free SCSI unit');
  return target;
}

/** Removes a disk's block node once its device is gone; a node that is not there is no error. */
export async function removeDiskNode(qmp: QmpClient, diskId: string): Promise<void> {
  await qmp.execute('blockdev-del', { 'node-name': diskNodeName(diskId) }).catch((error: Error) => {
    // Gone already: the adapter's DEVICE_DELETED handler may have removed it first.
    if (!/not found|cannot find|failed to find/i.test(error.message)) throw error;
  });
}

/** The block node, then the device; the node goes again if the device fails. */
async function plugDisk(qmp: QmpClient, disk: IdDisk, placement: DiskPlacement): Promise<void> {
  await qmp.execute('blockdev-add', diskBlockdev(disk));
  try {
    await qmp.execute('device_add', diskDeviceProps(disk, placement));
  } catch (error) {
    await removeDiskNode(qmp, disk.id).catch(() => undefined);
    throw error;
  }
}

/**
 * Asks the guest to release a disk (device_del), waits for QEMU's DEVICE_DELETED and removes its
 * block node. False when the guest did not let go within `timeoutMs` (the adapter removes the
 * node whenever QEMU reports the device gone).
 */
async function unplugDisk(
  qmp: QmpClient,
  events$: Observable<QmpEvent>,
  diskId: string,
  timeoutMs: number,
): Promise<boolean> {
  const alias = diskAlias(diskId);
  const deleted = deviceDeleted(events$, alias, timeoutMs);
  try {
    await qmp.execute('device_del', { id: alias });
  } catch (error) {
    // A retried detach: the guest may have been asked already and still hold it; wait again.
    if (!/in the process of unplug|pending/i.test((error as Error).message)) throw error;
  }
  if (!(await deleted)) return false;
  await removeDiskNode(qmp, diskId);
  return true;
}

/** What QemuDirectDisks needs of the adapter: its store, the QMP connection of a running domain, qemu-img. */
export interface DiskHost {
  readonly store: DomainStore;
  requireDomain(vmId: string): Promise<StoredDomain>;
  /** The running QEMU's QMP connection, undefined when the domain is stopped. */
  monitor(vmId: string): Promise<{ qmp: QmpClient; events$: Observable<QmpEvent> } | undefined>;
  /** How long a guest gets to release an unplugged disk. */
  unplugTimeoutMs: number;
  qemuImg: QemuImg;
}

/**
 * qemu-direct's disks after definition, by LIMEN disk id: the stored definition always, and the
 * running QEMU over QMP (blockdev-add + device_add, device_del + DEVICE_DELETED + blockdev-del,
 * block_resize of the disk's node). The volume itself is never created or deleted here.
 */
export class QemuDirectDisks {
  constructor(private readonly host: DiskHost) {}

  /**
   * Adds `disk` (with an id, never a boot index) to the definition and plugs it into the running
   * QEMU. Repeating an attach that happened is no error. `live` is false when the domain is stopped
   * or its QEMU has no free disk port (one started before disks had ports): the next start has it.
   */
  async attachDisk(vmId: string, disk: DiskSpec): Promise<SetResourceResult> {
    validateDisk(disk);
    const { id } = disk;
    if (id === undefined) invalid('a disk needs an id to be attached');
    if (disk.bootIndex !== undefined) invalid('a disk attached to a defined domain cannot have a bootIndex');
    const added: IdDisk = { ...disk, id };
    const name = domainNameFor(vmId);
    const stored = await this.host.requireDomain(vmId);
    const disks = stored.spec.disks;
    const present = disks.find((other) => other.id === id);
    if (present && present.path !== disk.path) invalid(`domain ${name} already has a disk ${id} with another volume`);
    const others = disks.filter((other) => other.id !== id);
    if (others.some((other) => other.path === disk.path)) invalid(`domain ${name} already uses ${disk.path}`);
    if (disk.serial !== undefined && others.some((other) => other.serial === disk.serial))
      invalid(`domain ${name} already has a disk with serial ${disk.serial}`);
    if (!present && disks.length >= MAX_DISKS) invalid(`at most ${MAX_DISKS} disks`);

    const monitor = await this.host.monitor(vmId);
    const live = monitor ? await this.plug(monitor.qmp, added, stored) : false;
    if (!present) await this.write(stored, (current) => [...current, added]);
    return { config: true, live };
  }

  /**
   * Removes a disk by id from the definition and the running QEMU, waiting until the guest
   * released it (TIMEOUT if it does not in time: the definition no longer has it then, and QEMU
   * finishes whenever the guest does). The volume stays. INVALID_ARGUMENT for a disk the domain lacks.
   */
  async detachDisk(vmId: string, diskId: string): Promise<SetResourceResult> {
    assertDiskId(diskId);
    const name = domainNameFor(vmId);
    const stored = await this.host.requireDomain(vmId);
    const monitor = await this.host.monitor(vmId);
    const inQemu = monitor ? (await peripheralIds(monitor.qmp)).has(diskAlias(diskId)) : false;
    const inDefinition = stored.spec.disks.some((disk) => disk.id === diskId);
    if (!inQemu && !inDefinition) invalid(`domain ${name} has no disk ${diskId}`);
    if (inDefinition) await this.write(stored, (current) => current.filter((disk) => disk.id !== diskId));
    if (monitor && inQemu && !(await unplugDisk(monitor.qmp, monitor.events$, diskId, this.host.unplugTimeoutMs)))
      throw new HypervisorError(
        'TIMEOUT',
        `domain ${name}: the guest did not release disk ${diskId} within ${this.host.unplugTimeoutMs} ms`,
      );
    return { config: true, live: monitor !== undefined };
  }

  /**
   * Grows a disk to `sizeBytes`: block_resize of its node when the running QEMU has it (the image
   * grows and the guest is told), else its image file. Shrinking is refused; the same size is no error.
   */
  async growDisk(vmId: string, diskId: string, sizeBytes: number): Promise<SetResourceResult> {
    assertDiskId(diskId);
    assertSizeBytes(sizeBytes);
    const name = domainNameFor(vmId);
    const stored = await this.host.requireDomain(vmId);
    const disk = stored.spec.disks.find((candidate) => candidate.id === diskId);
    if (!disk) invalid(`domain ${name} has no disk ${diskId}`);
    const what = `disk ${diskId} of ${name}`;
    const monitor = await this.host.monitor(vmId);
    if (monitor && (await peripheralIds(monitor.qmp)).has(diskAlias(diskId))) {
      const nodeName = diskNodeName(diskId);
      const nodes = await monitor.qmp.execute<Array<{ 'node-name': string; image: { 'virtual-size': number } }>>(
        'query-named-block-nodes',
        { flat: true },
      );
      const node = nodes.find((candidate) => candidate['node-name'] === nodeName);
      if (!node) throw new HypervisorError('OPERATION_FAILED', `${what}: QEMU has no block node ${nodeName}`);
      if (checkGrowth(what, node.image['virtual-size'], sizeBytes))
        await monitor.qmp.execute('block_resize', { 'node-name': nodeName, size: sizeBytes });
      return { config: true, live: true };
    }
    const current = await this.host.qemuImg.info(disk.path, disk.format ?? 'qcow2');
    if (checkGrowth(what, current.virtualSizeBytes, sizeBytes)) await this.host.qemuImg.resize(disk.path, sizeBytes);
    return { config: true, live: false };
  }

  /** Plugs `disk` into the running QEMU unless it is there already; false when no port is free. */
  private async plug(qmp: QmpClient, disk: IdDisk, stored: StoredDomain): Promise<boolean> {
    const ids = await peripheralIds(qmp);
    if (ids.has(diskAlias(disk.id))) return true;
    const q35 = (stored.spec.machine ?? 'q35') === 'q35';
    if (disk.bus === 'scsi') {
      if (!ids.has(SCSI_CONTROLLER_ID)) {
        // A domain started without CD-ROM, seed or SCSI disk has no controller yet: it takes a disk port.
        const port = q35 ? await freeDiskPort(qmp) : undefined;
        if (q35 && !port) return false;
        await qmp.execute('device_add', {
          driver: 'virtio-scsi-pci',
          id: SCSI_CONTROLLER_ID,
          ...(port ? { bus: port } : {}),
        });
      }
      await plugDisk(qmp, disk, { scsiTarget: await freeScsiTarget(qmp, ids) });
      return true;
    }
    const port = q35 ? await freeDiskPort(qmp) : undefined;
    if (q35 && !port) return false;
    await plugDisk(qmp, disk, port ? { port } : {});
    return true;
  }

  private async write(stored: StoredDomain, change: (disks: DiskSpec[]) => DiskSpec[]): Promise<void> {
    // Re-read: the definition may have changed while QEMU worked (another field, never the disks:
    // the api runs one operation per VM at a time).
    const current = (await this.host.store.read(stored.spec.vmId)) ?? stored;
    await this.host.store.write({ ...current, spec: { ...current.spec, disks: change(current.spec.disks) } });
  }
}
