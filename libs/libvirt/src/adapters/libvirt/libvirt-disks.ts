import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HypervisorError } from '../../errors/hypervisor-error';
import { withScratchDir } from '../../host/scratch-dir';
import { DiskSpec, DomainDiskInfo, SetResourceResult } from '../../models';
import { assertDiskId, diskAlias } from '../../naming/disk-name';
import { domainNameFor } from '../../naming/domain-name';
import { VirshPool } from '../../transport/virsh-pool';
import { assertSizeBytes, checkGrowth } from '../../volumes/disk-size';
import { diskNode } from '../../xml/disk-xml';
import { parseDomainXml } from '../../xml/domain-xml-parser';
import { freeDiskTarget, MAX_DISKS, validateDisk } from '../../xml/spec-validation';
import { ATTR, buildXml, childOf, childrenOf, parseXml } from '../../xml/xml-codec';

function invalid(message: string): HypervisorError {
  return new HypervisorError('INVALID_ARGUMENT', message);
}

/** libvirt's answer when a q35 domain has no free PCI Express root port left for a hot-plugged device. */
const NO_FREE_SLOT = /No more available PCI slots/i;

/** `Capacity:       1073741824` (domblkinfo) or `Capacity:       1073741824 bytes` (vol-info --bytes). */
function capacityOf(output: string, context: string): number {
  const match = /^Capacity:\s+(\d+)/m.exec(output);
  if (!match) throw new HypervisorError('OPERATION_FAILED', `${context}: no capacity in ${JSON.stringify(output)}`);
  return Number(match[1]);
}

export interface LibvirtDisksOptions {
  pool: VirshPool;
  /** Whether the domain runs (a live definition exists). */
  isActive(name: string): Promise<boolean>;
  /** How long detachDisk waits for the guest to release a disk. */
  detachTimeoutMs?: number;
  pollIntervalMs?: number;
}

interface Definitions {
  xml: string;
  /** Undefined when the domain is stopped. */
  liveXml?: string;
  config: DomainDiskInfo[];
  /** The running domain's disks; empty when it is stopped. */
  live: DomainDiskInfo[];
  active: boolean;
}

/**
 * Disks of libvirt domains after definition, addressed by LIMEN disk id (the alias
 * `ua-disk-<id>`): attach-device into the definition and the running domain, detach by alias,
 * and growth either live (blockresize, which grows the image too) or through the storage volume
 * (vol-resize), so a remote host needs no file access of the api's. The volume itself is never
 * created or deleted here.
 */
export class LibvirtDisks {
  constructor(private readonly options: LibvirtDisksOptions) {}

  private get pool(): VirshPool {
    return this.options.pool;
  }

  /**
   * Adds `disk` (with an id, never a boot index: a disk plugged later does not boot) to the
   * definition and, when the domain runs, to the running domain. Repeating an attach that already
   * happened is no error. `live` is false when the domain is stopped, or when a running q35
   * domain has no free PCI Express port left: the disk then appears at the next start.
   */
  async attachDisk(vmId: string, disk: DiskSpec): Promise<SetResourceResult> {
    validateDisk(disk);
    if (disk.id === undefined) throw invalid('a disk needs an id to be attached');
    if (disk.bootIndex !== undefined) throw invalid('a disk attached to a defined domain cannot have a bootIndex');
    const name = domainNameFor(vmId);
    const { xml, liveXml, config, live, active } = await this.definitions(name);
    const inConfig = config.find((other) => other.id === disk.id);
    const inLive = live.find((other) => other.id === disk.id);
    for (const present of [inConfig, inLive]) {
      if (present && present.path !== disk.path)
        throw invalid(`domain ${name} already has a disk ${disk.id} with another volume`);
    }
    const others = [...config, ...live].filter((other) => other.id !== disk.id);
    if (others.some((other) => other.path === disk.path))
      throw invalid(`domain ${name} already uses ${disk.path} as another disk`);
    if (disk.serial !== undefined && others.some((other) => other.serial === disk.serial))
      throw invalid(`domain ${name} already has a disk with serial ${disk.serial}`);
    if (!inConfig && config.filter((other) => other.device === 'disk').length >= MAX_DISKS)
      throw invalid(`at most ${MAX_DISKS} disks`);

    const flags = [...(inConfig ? [] : ['config']), ...(active && !inLive ? ['live'] : [])];
    if (flags.length === 0) return { config: true, live: active };
    const bus = disk.bus ?? 'virtio';
    // The live definition may still hold a disk the config lost (an unplug the guest has not
    // finished): a target neither uses.
    const target = inConfig?.target ?? freeDiskTarget(bus, new Set([...config, ...live].map((other) => other.target)));
    const document = buildXml({ disk: diskNode({ ...disk, bus }, target) });
    try {
      if (bus === 'scsi') await this.ensureScsiController(name, { xml, liveXml }, flags);
      await this.attachDevice(name, document, flags);
    } catch (error) {
      if (!flags.includes('live') || !NO_FREE_SLOT.test((error as HypervisorError).detail ?? '')) throw error;
      // No port for it in the running domain: into the definition only, for the next start.
      if (!inConfig) {
        if (bus === 'scsi') await this.ensureScsiController(name, await this.definitions(name), ['config']);
        await this.attachDevice(name, document, ['config']);
      }
      return { config: true, live: false };
    }
    return { config: true, live: active };
  }

  /**
   * Removes a disk by id from the definition and the running domain, waiting until the guest
   * released it (TIMEOUT if it does not within the timeout; the definition no longer has it then).
   * The volume stays. INVALID_ARGUMENT when the domain has no such disk.
   */
  async detachDisk(vmId: string, diskId: string): Promise<SetResourceResult> {
    assertDiskId(diskId);
    const name = domainNameFor(vmId);
    const { config, live, active } = await this.definitions(name);
    const inConfig = config.some((disk) => disk.id === diskId);
    const inLive = live.some((disk) => disk.id === diskId);
    if (!inConfig && !inLive) throw invalid(`domain ${name} has no disk ${diskId}`);
    const alias = diskAlias(diskId);
    if (inConfig)
      await this.pool.run({ name: 'detach-device-alias', options: { domain: name, alias }, flags: ['config'] });
    if (inLive) {
      await this.pool.run({ name: 'detach-device-alias', options: { domain: name, alias }, flags: ['live'] });
      await this.waitUntilGone(name, diskId);
    }
    return { config: true, live: active };
  }

  /**
   * Grows a disk to `sizeBytes`: live with blockresize when the running domain has it (QEMU grows
   * the image and tells the guest), else its volume with vol-resize (the path names a volume of an
   * active pool). Shrinking is refused (INVALID_ARGUMENT); the current size is no error.
   */
  async growDisk(vmId: string, diskId: string, sizeBytes: number): Promise<SetResourceResult> {
    assertDiskId(diskId);
    assertSizeBytes(sizeBytes);
    const name = domainNameFor(vmId);
    const { config, live } = await this.definitions(name);
    const running = live.find((disk) => disk.id === diskId);
    if (running) {
      const info = await this.pool.run({ name: 'domblkinfo', options: { domain: name, device: running.target } });
      if (checkGrowth(`disk ${diskId} of ${name}`, capacityOf(info, `domblkinfo ${running.target}`), sizeBytes))
        await this.pool.run({
          name: 'blockresize',
          options: { domain: name, path: running.target, size: `${sizeBytes}B` },
        });
      return { config: true, live: true };
    }
    const disk = config.find((candidate) => candidate.id === diskId);
    if (!disk) throw invalid(`domain ${name} has no disk ${diskId}`);
    if (!disk.path) throw new HypervisorError('INVALID_STATE', `disk ${diskId} of ${name} has no volume`);
    const info = await this.pool.run({ name: 'vol-info', options: { vol: disk.path }, flags: ['bytes'] });
    if (checkGrowth(`disk ${diskId} of ${name}`, capacityOf(info, `vol-info ${disk.path}`), sizeBytes))
      await this.pool.run({ name: 'vol-resize', options: { vol: disk.path, capacity: sizeBytes } });
    return { config: true, live: false };
  }

  /** The persistent definition (with secrets, like every definition LIMEN reads to change) and the live one. */
  private async definitions(name: string): Promise<Definitions> {
    const xml = await this.pool.run({
      name: 'dumpxml',
      options: { domain: name },
      flags: ['inactive', 'security-info'],
    });
    const active = await this.options.isActive(name);
    const liveXml = active ? await this.pool.run({ name: 'dumpxml', options: { domain: name } }) : undefined;
    return {
      xml,
      ...(liveXml ? { liveXml } : {}),
      config: parseDomainXml(xml).disks,
      live: liveXml ? parseDomainXml(liveXml).disks : [],
      active,
    };
  }

  private async liveDisks(name: string): Promise<DomainDiskInfo[]> {
    return parseDomainXml(await this.pool.run({ name: 'dumpxml', options: { domain: name } })).disks;
  }

  private async attachDevice(name: string, document: string, flags: string[]): Promise<void> {
    await withScratchDir(async (dir) => {
      const file = join(dir, 'device.xml');
      await writeFile(file, document, { mode: 0o600 });
      await this.pool.run({ name: 'attach-device', options: { domain: name, file }, flags });
    });
  }

  /**
   * A domain defined without CD-ROM or seed has no SCSI controller: one is added where `flags`
   * apply and it lacks one, virtio-scsi rather than libvirt's default LSI (cloud kernels lack that driver).
   */
  private async ensureScsiController(
    name: string,
    definitions: Pick<Definitions, 'xml' | 'liveXml'>,
    flags: string[],
  ): Promise<void> {
    const missing = flags.filter((flag) =>
      flag === 'config' ? !hasScsiController(definitions.xml) : !hasScsiController(definitions.liveXml ?? ''),
    );
    if (missing.length === 0) return;
    const controller = buildXml({
      controller: { [`${ATTR}type`]: 'scsi', [`${ATTR}index`]: '0', [`${ATTR}model`]: 'virtio-scsi' },
    });
    await this.attachDevice(name, controller, missing);
  }

  private async waitUntilGone(name: string, diskId: string): Promise<void> {
    const timeoutMs = this.options.detachTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!(await this.liveDisks(name)).some((disk) => disk.id === diskId)) return;
      if (Date.now() >= deadline)
        throw new HypervisorError(
          'TIMEOUT',
          `domain ${name}: the guest did not release disk ${diskId} within ${timeoutMs} ms`,
        );
      await new Promise((resolve) => setTimeout(resolve, this.options.pollIntervalMs ?? 250));
    }
  }
}

function hasScsiController(domainXml: string): boolean {
  if (!domainXml) return false;
  const devices = childOf(childOf(parseXml(domainXml), 'domain'), 'devices');
  return childrenOf(devices, 'controller').some((controller) => controller[`${ATTR}type`] === 'scsi');
}
