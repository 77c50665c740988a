import { Injectable } from '@nestjs/common';
import { StoragePoolInfo, VirtualizationPort } from '@limen/libvirt';
import { VmDisk } from '../disks/vm-disk.entity';
import { VmCreateSource } from '../operations/operation-kinds';
import { Vm } from './vm.entity';

/** What a filler makes the new VM's disk volumes in: its host's port and VM pool, and its disk rows (by position). */
export interface DiskFillContext {
  port: VirtualizationPort;
  vm: Vm;
  pool: StoragePoolInfo;
  disks: VmDisk[];
}

/**
 * Makes every disk volume of a new VM from `source`. Runs again from the start after a crash, so
 * it converges (a volume already there is kept or made again); a failure is cleaned up by the
 * create's tear-down (the VM's disk volumes) and by the filler itself (anything else it made).
 */
export type DiskFiller<K extends VmCreateSource['kind']> = (
  source: Extract<VmCreateSource, { kind: K }>,
  context: DiskFillContext,
) => Promise<void>;

type AnyFiller = (source: VmCreateSource, context: DiskFillContext) => Promise<void>;

/**
 * The ways a `vm.create` fills a VM's disks other than from its image: the clones module
 * registers `clone`, the backups module `backup`. Kept here so VmOperations needs neither module.
 */
@Injectable()
export class VmDiskSources {
  private readonly fillers = new Map<VmCreateSource['kind'], AnyFiller>();

  register<K extends VmCreateSource['kind']>(kind: K, filler: DiskFiller<K>): void {
    // Safe: `fill` hands a filler only sources of the kind it was registered for.
    this.fillers.set(kind, filler as unknown as AnyFiller);
  }

  async fill(source: VmCreateSource, context: DiskFillContext): Promise<void> {
    const filler = this.fillers.get(source.kind);
    if (!filler) throw new Error(`no disk filler registered for ${source.kind} sources`);
    await filler(source, context);
  }
}
