import { HypervisorError } from '../../errors/hypervisor-error';
import { VolumeExportInfo, VolumeExportOptions, VolumeRef } from '../../models';
import { assertExportRequest } from '../../volumes/export-options';
import { QemuImg } from '../../volumes/qemu-img';
import { QemuDirectStorage } from './qemu-direct-storage';

export interface QemuDirectCopiesOptions {
  storage: QemuDirectStorage;
  qemuImg: QemuImg;
}

/**
 * qemu-direct's copies of disks for backups, templates and clones: volume exports with qemu-img
 * on the pool's files (this machine's).
 */
export class QemuDirectCopies {
  constructor(private readonly options: QemuDirectCopiesOptions) {}

  /**
   * See VirtualizationPort.exportVolume. The image lock tells a volume a running QEMU holds
   * (INVALID_STATE without `snapshot`). A backing file outside the recorded pools is refused:
   * merging the chain would copy whatever file it names into the export.
   */
  async exportVolume(source: VolumeRef, localPath: string, options: VolumeExportOptions): Promise<VolumeExportInfo> {
    assertExportRequest(localPath, options);
    const volume = await this.options.storage.getVolume(source);
    if (volume.backingPath && !(await this.options.storage.isPoolFile(volume.backingPath)))
      throw new HypervisorError(
        'INVALID_ARGUMENT',
        `the backing file of ${source.pool}/${source.name} is not a volume of a LIMEN storage pool`,
      );
    return this.options.qemuImg.exportImage(volume.path, volume.format, localPath, options);
  }
}
