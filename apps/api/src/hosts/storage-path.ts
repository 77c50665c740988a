import { realpath } from 'node:fs/promises';
import { dirname, posix } from 'node:path';

const MAX_LENGTH = 255;
// What a libvirt pool <path> or a shell may carry unquoted: no XML metacharacters, spaces or controls.
const SAFE = /^\/[A-Za-z0-9._/-]*$/;

/** `path` is `root` or below it (both normalised). */
export function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : `${root}/`);
}

/**
 * Why `path` cannot be the folder of a host's VM pool, or null. The api cannot see another host's
 * file system, so this judges the string: absolute, already normalised (what is named is what is
 * used: no `.`, `..`, `//` or trailing `/`), characters a pool definition carries unquoted, and
 * inside one of `roots`.
 */
export function storagePathProblem(path: string, roots: readonly string[]): string | null {
  if (path.length > MAX_LENGTH) return `storagePath may be at most ${MAX_LENGTH} characters`;
  if (!SAFE.test(path)) return 'storagePath must be an absolute path of A-Z a-z 0-9 . _ - /';
  if (path === '/' || posix.normalize(path) !== path || path.endsWith('/') || /\/\.\.?(\/|$)/.test(path))
    return 'storagePath must be a normalised folder below /, without . or .. segments, // or a trailing /';
  if (!roots.some((root) => isInside(path, root)))
    return `storagePath must be inside one of the storage roots (STORAGE_ROOTS: ${roots.join(', ')})`;
  return null;
}

/**
 * For a host on this machine, where the folders can be seen: why `path` would really end up
 * outside `roots` through a symbolic link in it or in one of its folders, or null. Both are
 * compared as they resolve now; a part that does not exist yet is created by the pool build.
 */
export async function symlinkProblem(path: string, roots: readonly string[]): Promise<string | null> {
  const real = await resolveExisting(path);
  const realRoots = await Promise.all(roots.map(resolveExisting));
  if (realRoots.some((root) => isInside(real, root))) return null;
  return 'storagePath leads outside the storage roots through a symbolic link';
}

/** The real path of the deepest part of `path` that exists, with the rest appended as named. */
async function resolveExisting(path: string): Promise<string> {
  for (let existing = path; ; existing = dirname(existing)) {
    try {
      const real = await realpath(existing);
      return posix.join(real, path.slice(existing.length));
    } catch {
      if (existing === '/') return path;
    }
  }
}
