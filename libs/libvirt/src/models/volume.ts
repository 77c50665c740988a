export interface VolumeSpec {
  /** Absolute path of the qcow2 file to create. */
  path: string;
  /** Virtual size. Required without a backing image; with one, defaults to the backing size. */
  sizeBytes?: number;
  /** Copy-on-write over this image; it is never written to. */
  backingPath?: string;
  /**
   * Required with backingPath: the backing image is read as this format, never probed from its
   * content (a raw image whose bytes look like a qcow2 header could otherwise name other files).
   */
  backingFormat?: VolumeFormat;
}

export type VolumeFormat = 'qcow2' | 'raw';

export interface VolumeInfo {
  path: string;
  format: string;
  virtualSizeBytes: number;
  actualSizeBytes: number;
  backingPath?: string;
  /** A qcow2 image's external data file: its guest data lives in that other file. */
  dataFilePath?: string;
}
