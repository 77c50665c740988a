export type VolumeFormat = 'qcow2' | 'raw';

/** What qemu-img reads from an image file on the api's own machine (see inspectImageFile). */
export interface ImageFileInfo {
  path: string;
  format: string;
  virtualSizeBytes: number;
  actualSizeBytes: number;
  backingPath?: string;
  /** A qcow2 image's external data file: its guest data lives in that other file. */
  dataFilePath?: string;
}
