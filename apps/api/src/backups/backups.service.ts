import { HttpStatus, Injectable } from '@nestjs/common';
import type { DiskBus, NicModel } from '@limen/libvirt';
import { ReadStream } from 'node:fs';
import { AuthUser } from '../auth/decorators';
import { PageQueryDto } from '../common/page-query.dto';
import { AppException, ErrorCode } from '../common/problem';
import { Tx } from '../database/transaction';
import { VmDiskRepository } from '../disks/vm-disk.repository';
import { EventsService } from '../events/events.service';
import { HostPorts } from '../hosts/host-ports';
import { HostStorage } from '../hosts/host-storage';
import { IdempotentRequest } from '../idempotency/idempotency-key.decorator';
import { Image } from '../images/image.entity';
import { ImagesService } from '../images/images.service';
import { NicRequest } from '../networks/vm-networking';
import { OperationDto } from '../operations/dto/operation.dto';
import { OperationsService } from '../operations/operations.service';
import { QuotaLedger } from '../quotas/quota-ledger';
import { VmAcceptedDto, VmDto } from '../vms/dto/vm.dto';
import { Vm } from '../vms/vm.entity';
import { VmRepository } from '../vms/vm.repository';
import { VmAccess } from '../vms/vm-access';
import { isLegacyVolume } from '../vms/vm-files';
import { VmState } from '../vms/vm-state';
import { vmStateEvent } from '../vms/vm-state-writer';
import { VmsFromSource } from '../vms/vms-from-source';
import { Backup, BackupManifest } from './backup.entity';
import { BackupFilter, BackupRepository } from './backup.repository';
import { BackupStore, ByteRange } from './backup-store';
import { BackupAcceptedDto, BackupDto, ListBackupsQueryDto, RestoreBackupDto } from './dto/backup.dto';

const GIB = 1024 ** 3;

/** A VM in one of these can be backed up (a paused one crash-consistently, like a running one without agent). */
const BACKUP_STATES: readonly VmState[] = ['running', 'paused', 'stopped'];

/** A disk file to send: all of it, or the byte range asked for. */
export interface BackupDiskRead {
  stream: ReadStream;
  /** The whole file's size. */
  sizeBytes: number;
  /** Null: the whole file. */
  range: ByteRange | null;
  sha256: string;
}

/**
 * The single byte range of a `Range: bytes=…` header over a file of `size` bytes; null when the
 * header is absent, malformed or asks for several ranges (then the whole file is sent, as RFC 9110
 * allows); 'unsatisfiable' when it starts past the end.
 */
export function byteRangeOf(header: string | undefined, size: number): ByteRange | null | 'unsatisfiable' {
  const match = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!match || (match[1] === '' && match[2] === '')) return null;
  if (match[1] === '') {
    // A suffix: the last n bytes.
    const length = Number(match[2]);
    if (length === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (!Number.isSafeInteger(start) || (match[2] !== '' && Number(match[2]) < start)) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/**
 * The rules of backups: ownership (through the VM's, or the backup's owner once the VM is gone),
 * the VM states a backup or restore needs, the `backupGiB` quota reserved with the row, and the
 * operations that do the work (BackupOperations; a restore into a new VM is a `vm.create`).
 */
@Injectable()
export class BackupsService {
  constructor(
    private readonly backups: BackupRepository,
    private readonly store: BackupStore,
    private readonly access: VmAccess,
    private readonly vms: VmRepository,
    private readonly fromSource: VmsFromSource,
    private readonly vmDisks: VmDiskRepository,
    private readonly images: ImagesService,
    private readonly hostPorts: HostPorts,
    private readonly storage: HostStorage,
    private readonly ledger: QuotaLedger,
    private readonly operations: OperationsService,
    private readonly events: EventsService,
  ) {}

  /**
   * Accepts a backup of every disk of the VM. `scheduleId`: taken by that schedule (as its owner).
   * The quota reserved is the disks' allocated bytes, replaced by the files' size once written.
   */
  async create(
    user: AuthUser,
    vmId: string,
    idem?: IdempotentRequest,
    scheduleId: string | null = null,
  ): Promise<BackupAcceptedDto> {
    const estimate = await this.allocatedBytes(await this.access.visible(user, vmId));
    return this.operations.accept(user.id, idem, async (tx) => {
      const vm = await this.access.visible(user, vmId, tx, true);
      if (!BACKUP_STATES.includes(vm.state))
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The VM is ${vm.state}`, {
          state: vm.state,
        });
      await this.ledger.reserve(tx, vm.ownerId, { backupGiB: estimate / GIB });
      const backup = Object.assign(new Backup(), {
        vmId: vm.id,
        ownerId: vm.ownerId,
        vmName: vm.name,
        scheduleId,
        state: 'creating',
        consistency: null,
        sizeBytes: estimate,
        manifest: null,
        error: null,
        completedAt: null,
      });
      await this.backups.add(tx, backup);
      const op = await this.operations.create(tx, {
        kind: 'backup.create',
        ownerId: vm.ownerId,
        vmId: vm.id,
        params: { backupId: backup.id },
      });
      return { op, result: { backup: BackupDto.from(backup), operation: OperationDto.from(op) } };
    });
  }

  /** Yours (admins: everyone's, or one owner's), of one VM if asked; ready ones only. */
  list(user: AuthUser, query: ListBackupsQueryDto): Promise<{ items: Backup[]; nextCursor: string | null }> {
    const filter: BackupFilter = {
      ownerId: user.role === 'admin' ? query.ownerId : user.id,
      vmId: query.vmId,
    };
    return this.backups.page(filter, query);
  }

  /** The ready backups of a VM you may see. */
  async listOfVm(
    user: AuthUser,
    vmId: string,
    page: PageQueryDto,
  ): Promise<{ items: Backup[]; nextCursor: string | null }> {
    const vm = await this.access.visible(user, vmId);
    return this.backups.page({ vmId: vm.id }, page);
  }

  /** Owner or admin; anyone else gets 404. */
  async get(user: AuthUser, id: string, tx?: Tx, lock = false): Promise<Backup> {
    const backup = await this.backups.find(id, tx, lock);
    if (!backup || (user.role !== 'admin' && backup.ownerId !== user.id)) throw AppException.notFound('Backup');
    return backup;
  }

  async manifest(user: AuthUser, id: string): Promise<BackupManifest> {
    return this.complete(await this.get(user, id)).manifest;
  }

  /** One disk's file, whole or the range asked for (416 past its end), with its checksum as ETag. */
  async readDisk(user: AuthUser, id: string, position: number, rangeHeader?: string): Promise<BackupDiskRead> {
    const { manifest } = this.complete(await this.get(user, id));
    const disk = manifest.disks.find((d) => d.position === position);
    if (!disk) throw AppException.notFound('Backup disk');
    const sizeBytes = await this.store.sizeOf(id, disk.file);
    if (sizeBytes !== disk.sizeBytes)
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.BACKUP_CORRUPT,
        `The backup's file ${disk.file} is missing or damaged`,
      );
    const range = byteRangeOf(rangeHeader, sizeBytes);
    if (range === 'unsatisfiable')
      throw new AppException(
        HttpStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
        ErrorCode.RANGE_NOT_SATISFIABLE,
        `The range is outside the file's ${sizeBytes} bytes`,
        {},
        { 'Content-Range': `bytes */${sizeBytes}` },
      );
    return { stream: this.store.read(id, disk, range ?? undefined), sizeBytes, range, sha256: disk.sha256 };
  }

  /**
   * `new`: a `vm.create` whose disks are the backup's files (quota and placement as a create, the
   * original's host preferred). `original`: the backed-up VM, stopped, gets them (`backup.restore`).
   * The files' sizes are checked now (409 BACKUP_CORRUPT); their checksums by the operation,
   * before it changes anything.
   */
  async restore(user: AuthUser, id: string, dto: RestoreBackupDto, idem?: IdempotentRequest): Promise<VmAcceptedDto> {
    const { manifest } = this.complete(await this.get(user, id));
    await this.store.checkSizes(id, manifest);
    if (dto.target === 'original') {
      for (const field of ['name', 'start'] as const)
        if (dto[field] !== undefined)
          throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, `${field} is for target new`, {
            errors: [{ field, messages: [`${field} can only be given with target new`] }],
          });
      return this.restoreOriginal(user, id, manifest, idem);
    }
    const image = await this.imageOf(manifest);
    const original = (await this.backups.find(id))?.vmId;
    const preferredHostId = original ? ((await this.vms.find(original))?.hostId ?? null) : null;
    return this.operations.accept(user.id, idem, async (tx) => {
      await this.startRestoring(user, id, tx);
      const { vm, op, events } = await this.fromSource.createIn(tx, user, {
        name: dto.name ?? defaultRestoreName(manifest.vm.name, id),
        description: manifest.vm.description,
        vcpus: manifest.vm.vcpus,
        memoryMiB: manifest.vm.memoryMiB,
        image,
        bootOrder: manifest.vm.bootOrder,
        disks: manifest.disks.map((disk) => ({
          sizeGiB: disk.sizeGiB,
          bus: disk.bus as DiskBus,
          bootIndex: disk.bootIndex,
          serial: disk.serial,
        })),
        nics: nicsOf(manifest),
        start: dto.start ?? true,
        preferredHostId,
        source: { kind: 'backup', backupId: id },
      });
      return { op, events, result: { vm: VmDto.from(vm), operation: OperationDto.from(op) } };
    });
  }

  /** 204: its files and row go, which releases its quota. 409 while it is being made or restored from. */
  async remove(user: AuthUser, id: string): Promise<void> {
    const backup = await this.get(user, id);
    if (backup.state !== 'failed' && !(await this.backups.setStateIf(id, 'ready', 'deleting')))
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.INVALID_STATE,
        `The backup is ${(await this.backups.find(id))?.state ?? 'gone'}`,
      );
    await this.discard(backup);
  }

  /** The files, then the row (releasing its quota), then `backup.deleted`: also the sweep's way of finishing a delete. */
  async discard(backup: Backup): Promise<void> {
    await this.store.remove(backup.id);
    await this.backups.delete(backup.id);
    await this.events.publish({
      type: 'backup.deleted',
      ownerId: backup.ownerId,
      vmId: backup.vmId,
      payload: { id: backup.id, vmId: backup.vmId },
    });
  }

  private restoreOriginal(
    user: AuthUser,
    id: string,
    manifest: BackupManifest,
    idem?: IdempotentRequest,
  ): Promise<VmAcceptedDto> {
    return this.operations.accept(user.id, idem, async (tx) => {
      const backup = await this.startRestoring(user, id, tx);
      const vm = backup.vmId ? await this.vms.find(backup.vmId, tx, { lock: true }) : null;
      if (!vm || (user.role !== 'admin' && vm.ownerId !== user.id))
        throw new AppException(
          HttpStatus.CONFLICT,
          ErrorCode.CONFLICT,
          'The backed-up VM no longer exists; restore into a new VM',
        );
      if (vm.state !== 'stopped')
        throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The VM is ${vm.state}; stop it first`, {
          state: vm.state,
        });
      // The disks it gets may be larger than those it has: the growth is reserved now (and held
      // by `vms.disk_gib`), as a disk resize would; the operation sets the sum it ends with.
      const restoredGiB = manifest.disks.reduce((total, disk) => total + disk.sizeGiB, 0);
      const events = [];
      let current = vm;
      if (restoredGiB > vm.diskGiB) {
        await this.ledger.reserve(tx, vm.ownerId, { diskGiB: restoredGiB - vm.diskGiB });
        current = await this.vms.update(vm.id, { diskGiB: restoredGiB }, tx);
        events.push(vmStateEvent(current, 'vm.updated'));
      }
      const op = await this.operations.create(tx, {
        kind: 'backup.restore',
        ownerId: vm.ownerId,
        vmId: vm.id,
        params: { backupId: id },
      });
      return { op, events, result: { vm: VmDto.from(current), operation: OperationDto.from(op) } };
    });
  }

  /** The backup, locked and moved from ready to restoring (409 unless ready). */
  private async startRestoring(user: AuthUser, id: string, tx: Tx): Promise<Backup> {
    const backup = await this.get(user, id, tx, true);
    if (!(await this.backups.setStateIf(id, 'ready', 'restoring', tx)))
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The backup is ${backup.state}`, {
        state: backup.state,
      });
    return backup;
  }

  /** A backup whose files are all written: ready, or being restored from (409 otherwise). */
  private complete(backup: Backup): Backup & { manifest: BackupManifest } {
    if ((backup.state !== 'ready' && backup.state !== 'restoring') || !backup.manifest)
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The backup is ${backup.state}`, {
        state: backup.state,
      });
    return backup as Backup & { manifest: BackupManifest };
  }

  /** The image the backed-up VM was made from: a restored VM boots as it did (a kernel image's kernel, the seed of a disk image). */
  private async imageOf(manifest: BackupManifest): Promise<Image> {
    try {
      return await this.images.get(manifest.vm.imageId);
    } catch {
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.CONFLICT,
        'The image the backed-up VM was made from no longer exists',
      );
    }
  }

  /** What the VM's disks hold now: the quota a backup reserves until its files are measured. */
  private async allocatedBytes(vm: Vm): Promise<number> {
    const disks = await this.vmDisks.ofVm(vm.id);
    if (disks.some((disk) => isLegacyVolume(disk.volume)))
      throw new AppException(
        HttpStatus.CONFLICT,
        ErrorCode.INVALID_STATE,
        'The VM was made before storage pools; its disks cannot be backed up',
      );
    const port = this.hostPorts.forVm(vm);
    const pool = await this.storage.vmPool(vm.hostId);
    let total = 0;
    for (const disk of disks)
      total += (await port.getVolume({ pool: pool.name, name: disk.volume }, 'qcow2')).actualSizeBytes;
    return total;
  }
}

/** `<vmName>-restore-<first 8 of the backup id>`, within the 63 characters of a VM name. */
export function defaultRestoreName(vmName: string, backupId: string): string {
  const suffix = `-restore-${backupId.slice(0, 8)}`;
  return `${vmName.slice(0, 63 - suffix.length)}${suffix}`;
}

/** The backed-up VM's NICs on their networks; none recorded (a user-mode NIC): the default. */
function nicsOf(manifest: BackupManifest): NicRequest[] | undefined {
  const nics: NicRequest[] = manifest.vm.nics.flatMap((nic) =>
    nic.networkId ? [{ networkId: nic.networkId, ...(nic.model ? { model: nic.model as NicModel } : {}) }] : [],
  );
  return nics.length ? nics : undefined;
}
