import { HttpStatus, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import {
  HypervisorError,
  isFilesystemFull,
  seedVolumeName,
  serialLogName,
  StoragePoolInfo,
  VirtualizationPort,
} from '@limen/libvirt';
import { AppException, ErrorCode } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { VmDisk } from '../disks/vm-disk.entity';
import { VmDiskRepository } from '../disks/vm-disk.repository';
import { HostImageCache } from '../images/host-image-cache';
import { Image } from '../images/image.entity';
import { HostPorts } from '../hosts/host-ports';
import { HostStorage } from '../hosts/host-storage';
import { ImagesService } from '../images/images.service';
import { Operation } from '../operations/operation.entity';
import { OperationRunner } from '../operations/operation-runner';
import { CloudInitParams } from '../operations/operation-kinds';
import { cloudInitUserData } from './cloud-init-user-data';
import { networkConfigFor } from '../networks/network-definition';
import { VmNetworking } from '../networks/vm-networking';
import { Vm } from './vm.entity';
import { domainSpecFor } from './vm-domain-spec';
import { isLegacyVolume, vmFiles } from './vm-files';
import { VmDefinitions } from './vm-definitions';
import { bootedSizesOf, vmStateFromDomain } from './vm-state';
import { VmStateWriter } from './vm-state-writer';
import { VmRepository } from './vm.repository';
import { VmDiskSources } from './vm-disk-sources';

const GIB = 1024 ** 3;

/** Tolerates the "already done" answers, so an operation re-run after a crash converges instead of failing. */
async function unlessAlready(work: Promise<unknown>, ...codes: Array<HypervisorError['code']>): Promise<void> {
  try {
    await work;
  } catch (error) {
    if (!codes.some((code) => HypervisorError.is(error, code))) throw error;
  }
}

/** Power off and remove the domain with its disks and seed ISO; a domain already gone is fine. */
export async function destroyAndUndefine(port: VirtualizationPort, vmId: string): Promise<void> {
  await unlessAlready(port.destroy(vmId), 'INVALID_STATE', 'DOMAIN_NOT_FOUND');
  await unlessAlready(
    port.undefineDomain(vmId, { removeVolumes: true, removeSeedIso: true, removeNvram: true }),
    'DOMAIN_NOT_FOUND',
  );
}

/**
 * The hypervisor side of every VM operation. Each handler is idempotent:
 * the runner may execute it again from the start after an api restart.
 */
@Injectable()
export class VmOperations implements OnModuleInit {
  private readonly logger = new Logger('VmOperations');

  constructor(
    private readonly config: AppConfig,
    private readonly hostPorts: HostPorts,
    private readonly runner: OperationRunner,
    private readonly vms: VmRepository,
    private readonly stateWriter: VmStateWriter,
    private readonly images: ImagesService,
    private readonly networking: VmNetworking,
    private readonly storage: HostStorage,
    private readonly vmDisks: VmDiskRepository,
    private readonly imageCopies: HostImageCache,
    private readonly diskSources: VmDiskSources,
    private readonly definitions: VmDefinitions,
  ) {}

  onModuleInit(): void {
    this.runner.register('vm.create', (op) => this.create(op));
    this.runner.register('vm.delete', (op) => this.remove(op));
    this.runner.register('vm.start', (op) =>
      this.lifecycle(op, (port, id) => unlessAlready(port.start(id), 'INVALID_STATE')),
    );
    this.runner.register('vm.stop', (op) =>
      this.lifecycle(op, (port, id) => unlessAlready(port.destroy(id), 'INVALID_STATE')),
    );
    this.runner.register('vm.shutdown', (op) =>
      this.lifecycle(op, async (port, id) => {
        const result = await port.shutdown(id, {
          timeoutMs: op.params.timeoutSeconds * 1000,
          forceAfterTimeout: op.params.force,
        });
        return { forced: result.forced };
      }),
    );
    this.runner.register('vm.reboot', (op) => this.lifecycle(op, (port, id) => port.reboot(id)));
    this.runner.register('vm.reset', (op) => this.lifecycle(op, (port, id) => port.reset(id)));
    this.runner.register('vm.suspend', (op) =>
      this.lifecycle(op, (port, id) => unlessAlready(port.suspend(id), 'INVALID_STATE')),
    );
    this.runner.register('vm.resume', (op) =>
      this.lifecycle(op, (port, id) => unlessAlready(port.resume(id), 'INVALID_STATE')),
    );
    this.runner.register('vm.update', (op) => this.update(op));
    this.runner.register('vm.media.insert', (op) => this.insertMedia(op));
    this.runner.register('vm.media.eject', (op) => this.ejectMedia(op));
  }

  /**
   * Disk volume (copy-on-write over a disk image, or blank) in the host's VM pool, optional seed
   * ISO volume, the domain definition, and a start. On failure everything is taken down again and
   * the VM row removed, which releases its quota: no half-created VMs.
   */
  private async create(op: Operation<'vm.create'>): Promise<Record<string, unknown>> {
    const vm = await this.requireVm(op);
    const image = await this.images.get(vm.imageId);
    const media = vm.mediaImageId ? await this.images.get(vm.mediaImageId) : null;
    const { cloudInit } = op.params;
    const port = this.hostPorts.forVm(vm);
    try {
      const disks = await this.vmDisks.ofVm(vm.id);
      // Every disk image gets a seed: its hostname and network-config work without cloudInit too.
      const nics = await this.networking.nicSpecsFor(vm.id);
      const withSeed = image.kind === 'disk' || cloudInit !== null;
      const files = await this.storage.withVmPool(vm.hostId, async (pool) => {
        if (op.params.source) await this.diskSources.fill(op.params.source, { port, vm, pool, disks });
        else await this.createDisksFromImage(port, vm, image, pool, disks);
        if (withSeed)
          await port.createSeedIso({
            pool: pool.name,
            name: seedVolumeName(vm.id),
            metaData: this.metaData(vm, cloudInit ?? {}),
            userData: cloudInitUserData(cloudInit ?? {}),
            networkConfig: networkConfigFor(nics),
          });
        return vmFiles(vm.id, disks, pool.path, this.config.hypervisor.vmDir);
      });
      await this.networking.ensureNetworksOnHost(port, vm.id);
      const images = await this.definitions.imagesOnHost(vm, image, media);
      await unlessAlready(port.defineDomain(domainSpecFor(vm, image, images, files, withSeed, nics)), 'DOMAIN_EXISTS');
      if (op.params.start !== false) await unlessAlready(port.start(vm.id), 'INVALID_STATE');
      const domain = await port.getDomain(vm.id);
      const state = vmStateFromDomain(domain.state, domain.shutoffReason);
      await this.stateWriter.set(vm.id, { state, booted: bootedSizesOf(domain) });
      return { state };
    } catch (error) {
      await this.tearDown(vm);
      // Everything written above lives in the host's VM pool, so a full filesystem there is the
      // cause; say so (without the host path) rather than pass on the hypervisor's message.
      if (HypervisorError.is(error, 'INSUFFICIENT_STORAGE') || isFilesystemFull(error)) {
        this.logger.warn(`create of VM ${vm.id} found the VM pool full: ${(error as Error).message}`);
        throw new AppException(
          HttpStatus.INSUFFICIENT_STORAGE,
          ErrorCode.INSUFFICIENT_STORAGE,
          "The VM directory is full: there is no space left for this VM's disk and seed files",
        );
      }
      throw error;
    }
  }

  private async createDisksFromImage(
    port: VirtualizationPort,
    vm: Vm,
    image: Image,
    pool: StoragePoolInfo,
    disks: VmDisk[],
  ): Promise<void> {
    // A re-run after a crash keeps the disk it already made.
    await unlessAlready(this.createBootDisk(port, vm, image, pool, disks[0]), 'VOLUME_EXISTS');
    for (const data of disks.slice(1))
      await unlessAlready(
        port.createVolume({ pool: pool.name, name: data.volume, sizeBytes: data.sizeGiB * GIB }),
        'VOLUME_EXISTS',
      );
  }

  /** The boot disk's volume: blank, or an overlay over the disk image (never smaller than it). */
  private async createBootDisk(
    port: VirtualizationPort,
    vm: Vm,
    image: Image,
    pool: StoragePoolInfo,
    disk: VmDisk | undefined,
  ): Promise<void> {
    if (!disk) throw new HypervisorError('OPERATION_FAILED', `VM ${vm.id} has no boot disk`);
    const target = { pool: pool.name, name: disk.volume };
    const wanted = disk.sizeGiB * GIB;
    if (image.kind !== 'disk') {
      await port.createVolume({ ...target, sizeBytes: wanted });
      return;
    }
    // IMAGE_DIR's file on the api's machine, a copy uploaded on first use elsewhere. Read as the format its name gives, never probed.
    const { pool: imagePool, name } = await this.imageCopies.volumeFor(vm.hostId, image);
    const backing = { pool: imagePool, name, format: image.format ?? 'qcow2' };
    const { virtualSizeBytes } = await port.getVolume(backing, backing.format);
    await port.createVolume({ ...target, sizeBytes: Math.max(wanted, virtualSizeBytes), backing });
  }

  private async remove(op: Operation<'vm.delete'>): Promise<Record<string, unknown>> {
    const vm = await this.vms.find(op.vmId!);
    if (!vm) return { alreadyDeleted: true };
    const bases = await this.basesOf(vm);
    await this.removeFromHost(vm);
    await this.stateWriter.delete(vm);
    await this.deleteUnusedBases(vm, bases);
    return {};
  }

  /** The linked-clone bases the VM's disks are overlays of. */
  private async basesOf(vm: Vm): Promise<string[]> {
    return (await this.vmDisks.ofVm(vm.id)).flatMap((disk) => (disk.baseVolume ? [disk.baseVolume] : []));
  }

  /**
   * The bases of a deleted VM's disks that no other disk is an overlay of: gone with the last one
   * over them, never before (other clones of the same request may still read them). Asked once the
   * VM's rows are gone; one left behind (its host down) is logged, since nothing refers to it.
   */
  private async deleteUnusedBases(vm: Vm, bases: string[]): Promise<void> {
    const unused = await this.vmDisks.unusedBases(bases, vm.id);
    if (!unused.length) return;
    try {
      const port = this.hostPorts.forVm(vm);
      await this.storage.withVmPool(vm.hostId, async (pool) => {
        for (const name of unused) await port.deleteVolume({ pool: pool.name, name });
      });
    } catch (error) {
      this.logger.warn(`Could not delete the bases ${unused.join(', ')} of VM ${vm.id}: ${(error as Error).message}`);
    }
  }

  /**
   * The domain with every volume of the VM: its disks, seed and serial log go with the undefine,
   * and are deleted from the pool again in case the domain was already gone (a create that failed
   * before the definition, a domain removed by hand). A VM made before pools keeps its files in its
   * own folder under VM_DIR, which the adapter removes with the undefine.
   */
  private async removeFromHost(vm: Vm): Promise<void> {
    await destroyAndUndefine(this.hostPorts.forVm(vm), vm.id);
    await this.deleteVolumes(vm);
  }

  private async deleteVolumes(vm: Vm): Promise<void> {
    const port = this.hostPorts.forVm(vm);
    const volumes = (await this.vmDisks.ofVm(vm.id))
      .map((disk) => disk.volume)
      .filter((volume) => !isLegacyVolume(volume));
    await this.storage.withVmPool(vm.hostId, async (pool) => {
      for (const name of [...volumes, seedVolumeName(vm.id), serialLogName(vm.id)])
        await port.deleteVolume({ pool: pool.name, name });
    });
  }

  private async lifecycle(
    op: Operation,
    act: (port: VirtualizationPort, vmId: string) => Promise<unknown>,
  ): Promise<Record<string, unknown>> {
    const vm = await this.requireVm(op);
    const port = this.hostPorts.forVm(vm);
    const outcome = await act(port, vm.id);
    const domain = await port.getDomain(vm.id);
    const state = vmStateFromDomain(domain.state, domain.shutoffReason);
    await this.stateWriter.set(vm.id, { state, booted: bootedSizesOf(domain) });
    return { state, ...(outcome && typeof outcome === 'object' ? outcome : {}) };
  }

  /** vCPUs and memory: live when possible, always in the definition; boot order: the definition, next boot. */
  private async update(op: Operation<'vm.update'>): Promise<Record<string, unknown>> {
    const vm = await this.requireVm(op);
    const port = this.hostPorts.forVm(vm);
    const { vcpus, memoryMiB, bootOrder } = op.params;
    const result: Record<string, unknown> = {};
    if (vcpus !== null) result.vcpus = await port.setVcpus(vm.id, vcpus);
    if (memoryMiB !== null) result.memoryMiB = await port.setMemory(vm.id, memoryMiB);
    if (bootOrder !== null) {
      await this.definitions.redefine(vm);
      result.bootOrder = { config: true, live: false };
    }
    return result;
  }

  private async insertMedia(op: Operation<'vm.media.insert'>): Promise<Record<string, unknown>> {
    const vm = await this.requireVm(op);
    const iso = await this.images.get(op.params.imageId);
    await this.hostPorts.forVm(vm).insertCdrom(vm.id, (await this.imageCopies.volumeFor(vm.hostId, iso)).path);
    await this.vms.update(vm.id, { mediaImageId: iso.id });
    return { mediaImageId: iso.id };
  }

  private async ejectMedia(op: Operation<'vm.media.eject'>): Promise<Record<string, unknown>> {
    const vm = await this.requireVm(op);
    await this.hostPorts.forVm(vm).ejectCdrom(vm.id);
    await this.vms.update(vm.id, { mediaImageId: null });
    return { mediaImageId: null };
  }

  private async tearDown(vm: Vm): Promise<void> {
    const bases = await this.basesOf(vm);
    try {
      await destroyAndUndefine(this.hostPorts.forVm(vm), vm.id);
    } catch (error) {
      // The sweep removes the orphan domain once the hypervisor answers again.
      this.logger.warn(`Could not remove the domain of failed VM ${vm.id}: ${(error as Error).message}`);
    }
    try {
      await this.deleteVolumes(vm);
    } catch (error) {
      // The row goes anyway (a failed create releases its quota at once); its volumes stay in the
      // pool until deleted by hand (no volume sweep yet).
      this.logger.warn(`Could not remove the volumes of failed VM ${vm.id}: ${(error as Error).message}`);
    }
    await this.stateWriter.delete(vm);
    await this.deleteUnusedBases(vm, bases);
  }

  private async requireVm(op: Operation): Promise<Vm> {
    const vm = await this.vms.find(op.vmId!);
    if (!vm) throw new HypervisorError('DOMAIN_NOT_FOUND', 'The VM no longer exists');
    return vm;
  }

  private metaData(vm: Vm, cloudInit: CloudInitParams): string {
    return JSON.stringify({ 'instance-id': vm.id, 'local-hostname': cloudInit.hostname ?? vm.name });
  }
}
