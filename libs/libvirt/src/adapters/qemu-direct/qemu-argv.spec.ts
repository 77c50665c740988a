import { buildQemuArgv, qemuOptionValue } from './qemu-argv';

describe('buildQemuArgv', () => {
  const argv = buildQemuArgv(
    {
      vmId: 'vm-1',
      ownerId: 'o',
      vcpus: 1,
      maxVcpus: 2,
      memoryMiB: 256,
      disks: [{ path: '/vms/a,b.qcow2' }],
      cdrom: {},
      vnc: { enabled: true, password: 'pw' },
      serialLogPath: '/vms/serial.log',
      kernel: { kernelPath: '/k', initrdPath: '/i', cmdline: 'console=ttyS0' },
    },
    'qemu',
    { qmpSocket: '/s/qmp.sock', pidFile: '/s/pid', vncSocket: '/s/vnc.sock', vncSecretFile: '/s/vnc' },
  );
  const value = (flag: string): string[] => argv.flatMap((arg, i) => (arg === flag ? [argv[i + 1]] : []));

  it('escapes commas in paths inside QEMU option lists', () => {
    expect(qemuOptionValue('a,b')).toBe('a,,b');
    expect(value('-drive')[0]).toBe('file=/vms/a,,b.qcow2,format=qcow2,if=none,id=drive-vda');
  });

  it('uses TCG, QMP, a pidfile, daemonizes and keeps QEMU alive on guest power-off', () => {
    expect(value('-machine')).toEqual(['q35,accel=tcg']);
    expect(value('-qmp')).toEqual(['unix:/s/qmp.sock,server=on,wait=off']);
    expect(argv).toEqual(expect.arrayContaining(['-daemonize', '-no-shutdown', '-pidfile', '/s/pid']));
  });

  it('keeps the VNC password off the command line and serves VNC on a unix socket only', () => {
    expect(argv.join(' ')).not.toContain('pw ');
    expect(value('-object')).toEqual(['secret,id=vncsecret,format=raw,file=/s/vnc']);
    expect(value('-vnc')).toEqual(['unix:/s/vnc.sock,password-secret=vncsecret']);
  });

  it('security 11.1: restricts user-mode networking, so the guest cannot reach the host loopback through 10.0.2.2', () => {
    expect(value('-netdev')).toEqual(['user,id=net0,restrict=on']);
  });

  it('adds an empty CD-ROM drive, serial log and direct kernel boot', () => {
    expect(value('-drive')[1]).toBe('if=none,id=drive-sda,media=cdrom,readonly=on');
    expect(value('-chardev')).toEqual(['pty,id=serial0,logfile=/vms/serial.log,logappend=on']);
    expect(value('-append')).toEqual(['console=ttyS0']);
    expect(value('-smp')).toEqual(['cpus=1,maxcpus=2']);
  });
});
