import { existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ImageKind } from './image.entity';

export interface FoundImage {
  name: string;
  kind: ImageKind;
  path: string;
  format: 'qcow2' | 'raw' | null;
  sizeBytes: number;
}

/** Names LIMEN accepts in IMAGE_DIR (and for uploads): no separators, no dot-files, no traversal. */
export const IMAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const DISK_FORMATS: Record<string, 'qcow2' | 'raw'> = { '.qcow2': 'qcow2', '.img': 'raw', '.raw': 'raw' };

function extension(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? '' : name.slice(dot).toLowerCase();
}

/** A disk image's format comes from its name alone, never from its content. */
export function diskFormatOf(name: string): 'qcow2' | 'raw' | null {
  return DISK_FORMATS[extension(name)] ?? null;
}

/** A kernel image is a folder with `vmlinuz` and `initrd` or `initrd.img`, and optionally `cmdline`. */
export function kernelFiles(folder: string): { kernel: string; initrd: string; cmdline?: string } | null {
  const kernel = join(folder, 'vmlinuz');
  const initrd = ['initrd', 'initrd.img']
    .map((f) => join(folder, f))
    .find((f) => existsSync(f) && statSync(f).isFile());
  if (!existsSync(kernel) || !statSync(kernel).isFile() || !initrd) return null;
  const cmdline = join(folder, 'cmdline');
  return { kernel, initrd, cmdline: existsSync(cmdline) ? cmdline : undefined };
}

/**
 * Lists the images directly inside `dir`. Symbolic links are skipped, so an
 * image can never point QEMU outside IMAGE_DIR; so are names LIMEN would refuse.
 */
export function scanImageDir(dir: string): FoundImage[] {
  if (!existsSync(dir)) return [];
  const found: FoundImage[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!IMAGE_NAME.test(name)) continue;
    const path = join(dir, name);
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) continue;
    if (stat.isDirectory()) {
      const files = kernelFiles(path);
      if (files)
        found.push({
          name,
          kind: 'kernel',
          path,
          format: null,
          sizeBytes: statSync(files.kernel).size + statSync(files.initrd).size,
        });
      continue;
    }
    if (!stat.isFile()) continue;
    const format = diskFormatOf(name);
    if (extension(name) === '.iso') found.push({ name, kind: 'iso', path, format: null, sizeBytes: stat.size });
    else if (format) found.push({ name, kind: 'disk', path, format, sizeBytes: stat.size });
  }
  return found;
}
