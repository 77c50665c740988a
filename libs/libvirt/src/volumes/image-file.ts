import { ImageFileInfo, VolumeFormat } from '../models';
import { QemuImg } from './qemu-img';

export interface ImageFileInspection extends ImageFileInfo {
  /**
   * Neither a backing file nor an external data file: either would have QEMU open another file
   * (another tenant's disk or seed ISO, say) for every VM made from the image.
   */
  standalone: boolean;
}

/**
 * An image file on the api's own machine (IMAGE_DIR), read by qemu-img: with `format` as that
 * format only (OPERATION_FAILED for a file that is not one), never probed, so pass it for any file
 * LIMEN did not write itself. VOLUME_NOT_FOUND when the file is missing. Not a port method: images
 * are the api's files, whichever host a VM runs on.
 */
export async function inspectImageFile(
  path: string,
  format?: VolumeFormat,
  qemuImg = new QemuImg(),
): Promise<ImageFileInspection> {
  const info = await qemuImg.info(path, format);
  return { ...info, standalone: !info.backingPath && !info.dataFilePath };
}
