import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirshEventStream } from '../events/virsh-event-stream';
import { VirshPool } from './virsh-pool';

describe('virsh processes and the libvirt URI', () => {
  /** A stand-in for virsh that leaves a mark when it is started at all. */
  const fakeVirsh = () => {
    const dir = mkdtempSync(join(tmpdir(), 'limen-virsh-'));
    const path = join(dir, 'virsh');
    writeFileSync(path, `#!/bin/sh\ntouch '${join(dir, 'started')}'\nexit 1\n`);
    chmodSync(path, 0o755);
    return { path, started: () => existsSync(join(dir, 'started')) };
  };

  it('security 11.2: a pool given an unsupported URI (a stored host row, say) starts no virsh and fails every command', async () => {
    const virsh = fakeVirsh();
    const pool = new VirshPool({ uri: 'qemu+ssh://root@127.0.0.1/system?command=/bin/sh', virshPath: virsh.path });
    await expect(pool.run({ name: 'list' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/^The libvirt URI may only carry/),
    });
    await pool.close();
    expect(virsh.started()).toBe(false);
  });

  it('security 11.2: the event stream starts no virsh for an unsupported URI', async () => {
    const virsh = fakeVirsh();
    const stream = new VirshEventStream({ uri: 'qemu:///system?socket=/tmp/other.sock', virshPath: virsh.path });
    stream.start();
    await new Promise((r) => setTimeout(r, 300));
    stream.stop();
    expect(virsh.started()).toBe(false);
  });
});
