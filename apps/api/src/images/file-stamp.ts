import { stat } from 'node:fs/promises';

/**
 * What identifies a file's content without reading it: size, inode, and modification and change
 * times in nanoseconds. Writing the file, replacing it or setting its times back all change it
 * (the change time cannot be set), so a digest computed under one stamp holds while it is the same.
 */
export async function fileStamp(...paths: string[]): Promise<string> {
  const stamps = await Promise.all(
    paths.map(async (path) => {
      const s = await stat(path, { bigint: true });
      return `${s.size}:${s.ino}:${s.mtimeNs}:${s.ctimeNs}`;
    }),
  );
  return stamps.join('+');
}
