import { PNG } from 'pngjs';
import { HypervisorError } from '../errors/hypervisor-error';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * QEMU's screendump writes binary PPM (P6) unless asked for PNG, and libvirt passes through
 * whatever QEMU produced. Callers always get PNG.
 */
export function screenshotToPng(image: Buffer): Buffer {
  if (image.subarray(0, 8).equals(PNG_SIGNATURE)) return image;
  return ppmToPng(image);
}

export function ppmToPng(ppm: Buffer): Buffer {
  // Header: "P6" <ws> width <ws> height <ws> maxval <single ws> pixels; '#' comments allowed.
  let offset = 0;
  const tokens: string[] = [];
  while (tokens.length < 4) {
    while (offset < ppm.length && /\s/.test(String.fromCharCode(ppm[offset]))) offset++;
    if (ppm[offset] === 0x23) {
      while (offset < ppm.length && ppm[offset] !== 0x0a) offset++;
      continue;
    }
    const start = offset;
    while (offset < ppm.length && !/\s/.test(String.fromCharCode(ppm[offset]))) offset++;
    if (start === offset) break;
    tokens.push(ppm.toString('latin1', start, offset));
  }
  offset++; // the single whitespace after maxval
  const [magic, widthText, heightText, maxvalText] = tokens;
  const width = Number(widthText);
  const height = Number(heightText);
  const maxval = Number(maxvalText);
  if (magic !== 'P6' || !(width > 0) || !(height > 0) || maxval !== 255 || ppm.length < offset + width * height * 3) {
    throw new HypervisorError('OPERATION_FAILED', 'screenshot is neither PNG nor 8-bit binary PPM');
  }
  const png = new PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(ppm.subarray(offset, offset + width * height * 3));
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}
