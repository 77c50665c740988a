import { open } from 'node:fs/promises';

/** The last `maxBytes` of a serial log; empty when the guest has written nothing yet. */
export async function tailFile(path: string, maxBytes = 64 * 1024): Promise<string> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    // A cut through a multi-byte character becomes U+FFFD; the rest of the text stays intact.
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}
