import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { HypervisorError } from '../../errors/hypervisor-error';
import { VolumeExportInfo, VolumeExportOptions, VolumeRef } from '../../models';
import { LibLogger } from '../../transport/logger';
import { assertExportRequest } from '../../volumes/export-options';
import { partialPathFor, QemuImg } from '../../volumes/qemu-img';
import { LibvirtStorage } from './libvirt-storage';
import { assertRef, errorText } from './storage-support';

export interface LibvirtCopiesOptions {
  storage: LibvirtStorage;
  /** Whether the URI reaches this machine's libvirtd, whose pool folders the api can read itself. */
  local: boolean;
  qemuImg: QemuImg;
  logger: LibLogger;
}

/**
 * Copies of a libvirt host's disks for backups, templates and clones: volume exports (qemu-img on
 * the volume's file when the host is this machine; through a flattened copy downloaded with
 * vol-download when it is remote).
 */
export class LibvirtCopies {
  constructor(private readonly options: LibvirtCopiesOptions) {}

  /**
   * See VirtualizationPort.exportVolume. A running QEMU's image lock refuses a volume in use
   * (INVALID_STATE), here and in the qemu-img libvirtd runs for vol-create-from. A backing file
   * must be a standalone volume of a LIMEN pool: merging the chain copies whatever it names.
   */
  async exportVolume(source: VolumeRef, localPath: string, options: VolumeExportOptions): Promise<VolumeExportInfo> {
    assertRef(source, 'source volume');
    assertExportRequest(localPath, options);
    const { storage, qemuImg } = this.options;
    if (this.options.local) {
      const volume = await storage.getVolume(source);
      if (volume.backingPath) await storage.assertOwnBacking(volume.backingPath);
      return qemuImg.exportImage(volume.path, volume.format, localPath, options);
    }
    await storage.getVolume(source);
    if (options.snapshot !== undefined)
      throw new HypervisorError(
        'UNSUPPORTED',
        'a snapshot of a volume of a remote host cannot be exported: libvirt has no call that reads one',
      );
    return this.exportRemote(source, localPath, options.compress);
  }

  /**
   * The host flattens the chain into a temporary volume of the same pool (vol-create-from), which
   * is downloaded beside `localPath` and converted here; both temporaries go whatever happens.
   */
  private async exportRemote(source: VolumeRef, localPath: string, compress: boolean): Promise<VolumeExportInfo> {
    const { storage, qemuImg, logger } = this.options;
    const flat: VolumeRef = { pool: source.pool, name: `limen-export-${randomBytes(8).toString('hex')}.tmp` };
    const download = partialPathFor(localPath);
    try {
      const copy = await storage.cloneVolume(source, flat);
      await storage.downloadVolume(flat, download);
      // The downloaded copy is LIMEN's own flattened volume: read as the format libvirt wrote it in.
      return await qemuImg.exportImage(download, copy.format === 'qcow2' ? 'qcow2' : 'raw', localPath, { compress });
    } finally {
      await rm(download, { force: true });
      await storage
        .deleteVolume(flat)
        .catch((error: unknown) =>
          logger.warn(`cannot remove the temporary volume ${flat.pool}/${flat.name}: ${errorText(error)}`),
        );
    }
  }
}
