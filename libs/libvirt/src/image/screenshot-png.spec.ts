import { PNG } from 'pngjs';
import { ppmToPng, screenshotToPng } from './screenshot-png';

describe('screenshotToPng', () => {
  it('converts binary PPM (with a comment) to a PNG with the same pixels', () => {
    const pixels = Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]);
    const ppm = Buffer.concat([Buffer.from('P6\n# qemu\n2 2\n255\n', 'latin1'), pixels]);
    const png = PNG.sync.read(ppmToPng(ppm));
    expect([png.width, png.height]).toEqual([2, 2]);
    expect([...png.data.subarray(0, 8)]).toEqual([255, 0, 0, 255, 0, 255, 0, 255]);
    expect([...png.data.subarray(12, 16)]).toEqual([10, 20, 30, 255]);
  });

  it('passes PNG through and rejects anything else', () => {
    const png = PNG.sync.write(new PNG({ width: 1, height: 1 }));
    expect(screenshotToPng(png)).toBe(png);
    expect(() => screenshotToPng(Buffer.from('GIF89a'))).toThrow(/neither PNG nor/);
  });
});
