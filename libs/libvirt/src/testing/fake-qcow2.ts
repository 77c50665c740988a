import { deflateRawSync, inflateRawSync } from 'node:zlib';

const QCOW2_MAGIC = 0x514649fb;
const HEADER_BYTES = 104;
/**
 * Where a qcow2 file of the fake carries its guest data: after the header, behind this tag. Real
 * qcow2 tools see a header and ignore the rest; the fake reads the data back on upload, so a
 * backup (exportVolume) restored with uploadVolume keeps what the guest wrote.
 */
const DATA_TAG = Buffer.from('LIMEN-FAKE-GUEST-DATA', 'latin1');

export interface FakeQcow2Header {
  virtualSizeBytes: number;
  backingPath?: string;
}

/** The header qemu-img would read: a qcow2 file's virtual size and backing file name. */
export function qcow2Header(bytes: Buffer): FakeQcow2Header | undefined {
  if (bytes.length < 72 || bytes.readUInt32BE(0) !== QCOW2_MAGIC) return undefined;
  const backingOffset = Number(bytes.readBigUInt64BE(8));
  const backingSize = bytes.readUInt32BE(16);
  const backingPath = backingOffset
    ? bytes.subarray(backingOffset, backingOffset + backingSize).toString('utf8')
    : undefined;
  return { virtualSizeBytes: Number(bytes.readBigUInt64BE(24)), ...(backingPath ? { backingPath } : {}) };
}

/**
 * A qcow2 header (version 3, no backing file) for a volume the fake created: what a download of
 * it gives. With `content`, the guest data follows (deflated with `compress`, as `qemu-img convert
 * -c` makes compressible data smaller).
 */
export function qcow2Bytes(virtualSizeBytes: number, content?: Buffer, compress = false): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(QCOW2_MAGIC, 0);
  header.writeUInt32BE(3, 4);
  header.writeBigUInt64BE(BigInt(virtualSizeBytes), 24);
  header.writeUInt32BE(16, 20); // cluster bits
  header.writeUInt32BE(HEADER_BYTES, 100); // header length
  if (!content?.length) return header;
  const data = compress ? deflateRawSync(content) : content;
  const meta = Buffer.alloc(5);
  meta.writeUInt8(compress ? 1 : 0, 0);
  meta.writeUInt32BE(data.length, 1);
  return Buffer.concat([header, DATA_TAG, meta, data]);
}

/** The guest data a file of qcow2Bytes carries (empty for one without). */
export function qcow2Content(bytes: Buffer): Buffer {
  const at = HEADER_BYTES;
  if (bytes.length < at + DATA_TAG.length + 5 || !bytes.subarray(at, at + DATA_TAG.length).equals(DATA_TAG))
    return Buffer.alloc(0);
  const meta = at + DATA_TAG.length;
  const compressed = bytes.readUInt8(meta) === 1;
  const length = bytes.readUInt32BE(meta + 1);
  const data = bytes.subarray(meta + 5, meta + 5 + length);
  return compressed ? inflateRawSync(data) : Buffer.from(data);
}
