import { HttpStatus, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { HypervisorError, isFilesystemFull, VirtualizationPort } from '@limen/libvirt';
import { AppException, ErrorCode } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { Image } from '../images/image.entity';
import { HostPorts } from '../hosts/host-ports';
import { ImagesService } from '../images/images.service';
import { Operation } from '../operations/operation.entity';
import { OperationRunner } from '../operations/operation-runner';
import { CloudInitParams } from '../operations/operation-kinds';
import { cloudInitUserData } from './cloud-init-user-data';
import { networkConfigFor } from '../networks/network-definition';
import { VmNetworking } from '../networks/vm-networking';
import { Vm } from './vm.entity';
import { domainSpecFor } from './vm-domain-spec';
import { vmPaths } from './vm-paths';
import { bootedSizesOf, vmStateFromDomain } from './vm-state';
import { VmStateWriter } from './vm-state-writer';
import { VmRepository } from './vm.repository';

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
   * Disk (copy-on-write over a disk image, or blank), optional seed ISO, the
   * domain definition, and a start. On failure everything is taken down again
   * and the VM row removed, which releases its quota: no half-created VMs.
   */
  private async create(op: Operation<'vm.create'>): Promise<Record<string, unknown>> {
    const vm = await this.requireVm(op);
    const image = await this.images.get(vm.imageId);
    const media = vm.mediaImageId ? await this.images.get(vm.mediaImageId) : null;
    const paths = vmPaths(this.config.hypervisor.vmDir, vm.id);
    const { cloudInit } = op.params;
    const port = this.hostPorts.forVm(vm);
    try {
      await port.createVmFolder(paths.dir);
      // A re-run after a crash keeps the disk it already made.
      await unlessAlready(this.createDisk(port, vm, image, paths.disk), 'VOLUME_EXISTS');
      // Every disk image gets a seed: its hostname and network-config work without cloudInit too.
      const nics = await this.networking.nicSpecsFor(vm.id);
      const withSeed = image.kind === 'disk' || cloudInit !== null;
      if (withSeed)
        await port.createSeedIso({
          path: paths.seedIso,
          metaData: this.metaData(vm, cloudInit ?? {}),
          userData: cloudInitUserData(cloudInit ?? {}),
          networkConfig: networkConfigFor(nics),
        });
      await this.networking.ensureNetworksOnHost(port, vm.id);
      await unlessAlready(
        port.defineDomain(domainSpecFor(vm, image, media, this.config.hypervisor, withSeed, nics)),
        'DOMAIN_EXISTS',
      );
      if (op.params.start !== false) await unlessAlready(port.start(vm.id), 'INVALID_STATE');
      const domain = await port.getDomain(vm.id);
      const state = vmStateFromDomain(domain.state, domain.shutoffReason);
      await this.stateWriter.set(vm.id, { state, booted: bootedSizesOf(domain) });
      return { state };
    } catch (error) {
      await this.tearDown(vm);
      // Everything written above lives in VM_DIR, so a full filesystem there is the cause; say so
      // (without the host path) rather than pass on qemu-img's or the ISO writer's message.
      if (HypervisorError.is(error, 'INSUFFICIENT_STORAGE') || isFilesystemFull(error)) {
        this.logger.warn(`create of VM ${vm.id} found VM_DIR full: ${(error as Error).message}`);
        throw new AppException(
          HttpStatus.INSUFFICIENT_STORAGE,
          ErrorCode.INSUFFICIENT_STORAGE,
          "The VM directory is full: there is no space left for this VM's disk and seed files",
        );
      }
      throw error;
    }
  }

  private async createDisk(port: VirtualizationPort, vm: Vm, image: Image, path: string): Promise<void> {
    const wanted = vm.diskGiB * GIB;
    if (image.kind !== 'disk') {
      await port.createVolume({ path, sizeBytes: wanted });
      return;
    }
    // The overlay may not be smaller than the image it covers. Read as the format its name gives, never probed.
    const format = image.format ?? 'qcow2';
    const backing = await port.getVolume(image.path, format);
    await port.createVolume({
      path,
      sizeBytes: Math.max(wanted, backing.virtualSizeBytes),
      backingPath: image.path,
      backingFormat: format,
    });
  }

  private async remove(op: Operation<'vm.delete'>): Promise<Record<string, unknown>> {
    const vm = await this.vms.find(op.vmId!);
    if (!vm) return { alreadyDeleted: true };
    const port = this.hostPorts.forVm(vm);
    await destroyAndUndefine(port, vm.id);
    await port.removeVmFolder(vmPaths(this.config.hypervisor.vmDir, vm.id).dir);
    await this.stateWriter.delete(vm);
    return {};
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
      const image = await this.images.get(vm.imageId);
      const media = vm.mediaImageId ? await this.images.get(vm.mediaImageId) : null;
      const hasSeed = (await port.getDomain(vm.id)).disks.some((disk) => disk.seed);
      const nics = await this.networking.nicSpecsFor(vm.id);
      await port.redefineDomain(domainSpecFor(vm, image, media, this.config.hypervisor, hasSeed, nics));
      result.bootOrder = { config: true, live: false };
    }
    return result;
  }

  private async insertMedia(op: Operation<'vm.media.insert'>): Promise<Record<string, unknown>> {
    const vm = await this.requireVm(op);
    const iso = await this.images.get(op.params.imageId);
    await this.hostPorts.forVm(vm).insertCdrom(vm.id, iso.path);
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
    try {
      await destroyAndUndefine(this.hostPorts.forVm(vm), vm.id);
    } catch (error) {
      // The sweep removes the orphan domain once the hypervisor answers again.
      this.logger.warn(`Could not remove the domain of failed VM ${vm.id}: ${(error as Error).message}`);
    }
    await this.hostPorts.forVm(vm).removeVmFolder(vmPaths(this.config.hypervisor.vmDir, vm.id).dir);
    await this.stateWriter.delete(vm);
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
