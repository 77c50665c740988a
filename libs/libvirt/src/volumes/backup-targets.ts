import { HypervisorError } from '../errors/hypervisor-error';
import { DiskBackupTarget } from '../models';
import { assertDiskId } from '../naming/disk-name';
import { assertPoolName, assertVolumeName } from '../naming/storage-name';
import { MAX_DISKS } from '../xml/spec-validation';

function invalid(message: string): never {
  throw new HypervisorError('INVALID_ARGUMENT', message);
}

/**
 * beginDiskBackup's targets, checked before anything runs: 1 to MAX_DISKS of them, each a disk id
 * and a volume name of a LIMEN pool (they reach backup XML, QMP and paths), no disk twice and no
 * volume twice. INVALID_ARGUMENT.
 */
export function assertBackupTargets(targets: DiskBackupTarget[]): void {
  if (!Array.isArray(targets) || targets.length === 0) invalid('a disk backup needs at least one target');
  if (targets.length > MAX_DISKS) invalid(`at most ${MAX_DISKS} disks`);
  for (const entry of targets) {
    if (!entry || typeof entry !== 'object' || !entry.target || typeof entry.target !== 'object')
      invalid('each target names a disk id and a volume');
    assertDiskId(entry.diskId);
    assertPoolName(entry.target.pool);
    assertVolumeName(entry.target.name);
  }
  if (new Set(targets.map((entry) => entry.diskId)).size !== targets.length) invalid('a disk is backed up once');
  if (new Set(targets.map(({ target }) => `${target.pool}/${target.name}`)).size !== targets.length)
    invalid('every disk needs a volume of its own');
}
