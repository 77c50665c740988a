import { VirshFramingError, VirshOutputFramer, virshFailed } from './virsh-output-framer';
import { mapVirshError } from './virsh-error-mapper';

const T1 = 'LIMEN-aaaa';
const T2 = 'LIMEN-bbbb';

describe('VirshOutputFramer', () => {
  it('splits stdout and stderr per command, across arbitrary chunking', () => {
    const stdout = `virsh # version\nCompiled against library: libvirt 9.0.0\nvirsh # echo --err ${T1}\nvirsh # domstate nosuch\nvirsh # echo --err ${T2}\nvirsh # `;
    const stderr = `error: ${T1}\nerror: failed to get domain 'nosuch'\nerror: ${T2}\n`;
    const framer = new VirshOutputFramer();
    // Feed one character at a time: boundaries must not depend on how pipes chunk data.
    let i = 0;
    const results: unknown[] = [];
    const tokens = [T1, T2];
    while (i < Math.max(stdout.length, stderr.length)) {
      if (i < stdout.length) framer.push('stdout', stdout[i]);
      if (i < stderr.length) framer.push('stderr', stderr[i]);
      i++;
      const result = framer.take(tokens[0]);
      if (result) {
        results.push(result);
        tokens.shift();
      }
    }
    expect(results).toEqual([
      { stdout: 'Compiled against library: libvirt 9.0.0\n', stderr: '' },
      { stdout: '', stderr: "error: failed to get domain 'nosuch'\n" },
    ]);
  });

  it('waits for both streams before completing', () => {
    const framer = new VirshOutputFramer();
    framer.push('stdout', `virsh # echo x\nx\nvirsh # echo --err ${T1}\n`);
    expect(framer.take(T1)).toBeUndefined();
    framer.push('stderr', `error: ${T1}\n`);
    expect(framer.take(T1)).toEqual({ stdout: 'x\n', stderr: '' });
  });

  it('cuts the echoed command at its first newline even when readline mangled it', () => {
    const framer = new VirshOutputFramer();
    framer.push('stdout', `virsh # \r<xxxxxxxx'\nxxxxxxxxxx\nvirsh # echo --err ${T1}\n`);
    framer.push('stderr', `error: ${T1}\n`);
    expect(framer.take(T1)).toEqual({ stdout: 'xxxxxxxxxx\n', stderr: '' });
  });

  it('refuses output it cannot attribute', () => {
    const framer = new VirshOutputFramer();
    framer.push('stdout', `garbage\nvirsh # echo --err ${T1}\n`);
    framer.push('stderr', `error: ${T1}\n`);
    expect(() => framer.take(T1)).toThrow(VirshFramingError);
  });

  it('drops asynchronous connection notices from command stderr', () => {
    const framer = new VirshOutputFramer();
    framer.push('stdout', `virsh # list\nok\nvirsh # echo --err ${T1}\n`);
    framer.push(
      'stderr',
      `error: Disconnected from qemu:///system due to end of file\nerror: Reconnected to the hypervisor\nerror: ${T1}\n`,
    );
    const result = framer.take(T1);
    expect(virshFailed(result?.stderr ?? '')).toBe(false);
  });
});

describe('VirshOutputFramer connection notices', () => {
  it('marks a command during which virsh lost its connection, and not one that reconnected first', () => {
    const lost = new VirshOutputFramer();
    lost.push('stdout', `virsh # dumpxml limen-x\nvirsh # echo --err ${T1}\n`);
    // virsh 9.0 when libvirtd is killed under a domain lookup: the lookup's own error is reset.
    lost.push(
      'stderr',
      `error: Disconnected from qemu:///system due to end of file\nerror: failed to get domain 'limen-x'\nerror: ${T1}\n`,
    );
    expect(lost.take(T1)).toEqual({
      stdout: '',
      stderr: "error: failed to get domain 'limen-x'\n",
      connectionLost: true,
    });

    const back = new VirshOutputFramer();
    back.push('stdout', `virsh # dumpxml limen-x\nvirsh # echo --err ${T1}\n`);
    back.push(
      'stderr',
      `error: Disconnected from qemu:///system due to end of file\nerror: Reconnected to the hypervisor\nerror: failed to get domain 'limen-x'\nerror: ${T1}\n`,
    );
    expect(back.take(T1)).toEqual({ stdout: '', stderr: "error: failed to get domain 'limen-x'\n" });
  });
});

describe('mapVirshError', () => {
  it.each([
    ["error: failed to get domain 'x'", 'DOMAIN_NOT_FOUND'],
    ['error: Requested operation is not valid: domain is not running', 'INVALID_STATE'],
    ['error: failed to connect to the hypervisor', 'HYPERVISOR_UNAVAILABLE'],
    ["error: Domain snapshot not found: no domain snapshot with matching name 'x'", 'SNAPSHOT_NOT_FOUND'],
    ['error: something odd', 'OPERATION_FAILED'],
  ])('%s -> %s', (stderr, code) => {
    expect(mapVirshError(stderr, 'virsh x').code).toBe(code);
  });
});
