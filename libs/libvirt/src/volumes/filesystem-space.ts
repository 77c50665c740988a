import { statfs } from 'node:fs/promises';
import { assertAbsolutePath } from '../xml/spec-validation';

/** Bytes an unprivileged writer may still use on the filesystem holding `path` (statfs `f_bavail`). */
export async function availableBytes(path: string): Promise<number> {
  assertAbsolutePath('path', path);
  const stats = await statfs(path);
  return stats.bavail * stats.bsize;
}
