import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './guest-fixture';

describe('virsh event stream: process lifetime', () => {
  // `virsh event --loop` never reads its stdin, so a SIGKILLed owner used to leave it running
  // under init until its next write failed, which on a quiet host is never.
  it('takes its virsh event process down with it when the owning process is SIGKILLed', async () => {
    const script = `
      const { VirshEventStream } = require(${JSON.stringify(join(__dirname, '..', 'src', 'events', 'virsh-event-stream'))});
      const stream = new VirshEventStream({ uri: 'qemu:///system' });
      stream.start();
      process.stdout.write(stream.pid + '\\n');
      setInterval(() => undefined, 1000);`;
    const owner = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const pid = await new Promise<number>((resolve, reject) => {
        owner.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
        owner.once('exit', (code) => reject(new Error(`the owner exited early (${code})`)));
      });
      // It is virsh itself (setpriv execs it), connected and waiting for events.
      await waitFor(
        'virsh event to run',
        async () =>
          existsSync(`/proc/${pid}/cmdline`) &&
          readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('event'),
        10_000,
      );
      await new Promise((r) => setTimeout(r, 300));
      owner.kill('SIGKILL');
      await waitFor('the orphaned virsh event to exit', async () => !existsSync(`/proc/${pid}`), 3_000);
    } finally {
      owner.kill('SIGKILL');
    }
  });
});
