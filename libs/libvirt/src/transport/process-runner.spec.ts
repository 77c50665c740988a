import { runProcess } from './process-runner';

describe('runProcess', () => {
  it('reports a program that failed on a full filesystem as INSUFFICIENT_STORAGE, keeping its output as detail', async () => {
    const error = await runProcess('sh', [
      '-c',
      'echo "qemu-img: /v/disk.qcow2: Could not write qcow2 header: No space left on device" >&2; exit 1',
    ]).catch((e) => e);
    expect(error).toMatchObject({
      code: 'INSUFFICIENT_STORAGE',
      detail: expect.stringContaining('No space left on device'),
    });
  });

  it('reports other failures as OPERATION_FAILED and a missing program as HYPERVISOR_UNAVAILABLE', async () => {
    expect(await runProcess('sh', ['-c', 'echo "bad option" >&2; exit 2']).catch((e) => e)).toMatchObject({
      code: 'OPERATION_FAILED',
    });
    expect(await runProcess('/nonexistent/limen-tool', []).catch((e) => e)).toMatchObject({
      code: 'HYPERVISOR_UNAVAILABLE',
    });
  });
});
