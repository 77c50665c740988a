export interface VolumeSpec {
  /** Absolute path of the qcow2 file to create. */
  path: string;
  /** Virtual size. Required without a backing image; with one, defaults to the backing size. */
  sizeBytes?: number;
  /** Copy-on-write over this image; it is never written to. */
  backingPath?: string;
  backingFormat?: 'qcow2' | 'raw';
}

export interface VolumeInfo {
  path: string;
  format: string;
  virtualSizeBytes: number;
  actualSizeBytes: number;
  backingPath?: string;
}
