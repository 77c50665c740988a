import { HypervisorError } from '../errors/hypervisor-error';
import { VolumeExportOptions } from '../models';
import { assertSnapshotName } from '../naming/domain-name';
import { assertAbsolutePath } from '../xml/spec-validation';

/** exportVolume's arguments, checked before anything runs (INVALID_ARGUMENT). */
export function assertExportRequest(localPath: string, options: VolumeExportOptions): void {
  if (typeof localPath !== 'string') throw new HypervisorError('INVALID_ARGUMENT', 'localPath must be a string');
  assertAbsolutePath('local path', localPath);
  if (!options || typeof options.compress !== 'boolean')
    throw new HypervisorError('INVALID_ARGUMENT', 'options.compress must be true or false');
  if (options.snapshot !== undefined) assertSnapshotName(options.snapshot);
}
