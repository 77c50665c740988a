import { buildQemuArgv } from '@limen/libvirt/adapters/qemu-direct/qemu-argv';
import { guestNameFromArgv, isQemuSystemBinary, qemuIdentity, splitQemuOptions } from './qemu-command-line';

const VM_ID = '3f2c9a4e-8b1d-4c6e-9f0a-1b2c3d4e5f60';

/** What libvirt 9 (Debian 12) runs for a LIMEN domain, as /proc/<pid>/cmdline splits it. */
const LIBVIRT_ARGV = [
  '/usr/bin/qemu-system-x86_64',
  '-name',
  `guest=limen-${VM_ID},debug-threads=on`,
  '-S',
  '-object',
  `{"qom-type":"secret","id":"masterKey0","format":"raw","file":"/var/lib/libvirt/qemu/domain-7-limen-${VM_ID}/master-key.aes"}`,
  '-machine',
  'pc-q35-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram',
  '-accel',
  'tcg',
  '-cpu',
  'qemu64',
  '-m',
  '512',
  '-object',
  '{"qom-type":"memory-backend-ram","id":"pc.ram","size":536870912}',
  '-overcommit',
  'mem-lock=off',
  '-smp',
  '1,sockets=1,cores=1,threads=1',
  '-uuid',
  VM_ID,
  '-no-user-config',
  '-nodefaults',
  '-chardev',
  'socket,id=charmonitor,fd=31,server=on,wait=off',
  '-mon',
  'chardev=charmonitor,id=monitor,mode=control',
  '-kernel',
  '/var/lib/limen/images/vmlinuz',
  '-append',
  'console=ttyS0 quiet -name not-this-one',
  '-blockdev',
  '{"driver":"file","filename":"/var/lib/limen/vms/disk 1.qcow2","node-name":"libvirt-1-storage"}',
  '-device',
  '{"driver":"virtio-blk-pci","bus":"pci.2","addr":"0x0","drive":"libvirt-1-format","id":"virtio-disk0","bootindex":1}',
  '-sandbox',
  'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
  '-msg',
  'timestamp=on',
];

describe('QEMU command line → domain', () => {
  it('recognizes system emulators by argv[0] only', () => {
    expect(isQemuSystemBinary('/usr/bin/qemu-system-x86_64')).toBe(true);
    expect(isQemuSystemBinary('qemu-system-aarch64')).toBe(true);
    expect(isQemuSystemBinary('/usr/libexec/qemu-kvm')).toBe(true);
    expect(isQemuSystemBinary('/usr/bin/qemu-img')).toBe(false);
    expect(isQemuSystemBinary('/usr/bin/bash')).toBe(false);
  });

  it('splits option lists on single commas and keeps ",," as a literal comma', () => {
    expect(splitQemuOptions('guest=a,,b,debug-threads=on')).toEqual(['guest=a,b', 'debug-threads=on']);
    expect(splitQemuOptions('plain')).toEqual(['plain']);
  });

  it('maps a libvirt command line (-name guest=...) to the domain and VM id', () => {
    expect(qemuIdentity(LIBVIRT_ARGV)).toEqual({ domain: `limen-${VM_ID}`, vmId: VM_ID });
  });

  it("maps the qemu-direct adapter's own command line (-name limen-<id>,process=...)", () => {
    const argv = buildQemuArgv(
      {
        vmId: VM_ID,
        ownerId: 'owner',
        vcpus: 2,
        memoryMiB: 256,
        disks: [{ path: '/var/lib/limen/vms/a,b.qcow2' }],
        serialLogPath: '/var/lib/limen/vms/serial.log',
      },
      'qemu',
      { qmpSocket: '/run/limen/q.sock', pidFile: '/run/limen/q.pid', qgaSocket: '/run/limen/qga.sock' },
    );
    expect(qemuIdentity(['/usr/bin/qemu-system-x86_64', ...argv])).toEqual({ domain: `limen-${VM_ID}`, vmId: VM_ID });
  });

  it('reports foreign domains with a null VM id, and no -name as null', () => {
    expect(qemuIdentity(['/usr/bin/qemu-system-x86_64', '-name', 'guest=win11,debug-threads=on'])).toEqual({
      domain: 'win11',
      vmId: null,
    });
    expect(qemuIdentity(['/usr/bin/qemu-system-x86_64', '-m', '512'])).toEqual({ domain: null, vmId: null });
    // "limen-" followed by something that is no VM id is not a LIMEN VM.
    expect(qemuIdentity(['/usr/bin/qemu-system-x86_64', '-name', 'limen-../../etc'])).toEqual({
      domain: 'limen-../../etc',
      vmId: null,
    });
  });

  it('accepts --name and -name=value, ignores -name inside other values, and lets the last -name win', () => {
    expect(guestNameFromArgv(['qemu-system-x86_64', '--name', 'guest=limen-a'])).toBe('limen-a');
    expect(guestNameFromArgv(['qemu-system-x86_64', '-name=limen-b,process=x'])).toBe('limen-b');
    expect(guestNameFromArgv(['qemu-system-x86_64', '-name', 'limen-a', '-name', 'guest=limen-c'])).toBe('limen-c');
    expect(guestNameFromArgv(['qemu-system-x86_64', '-name', 'debug-threads=on'])).toBeNull();
    expect(guestNameFromArgv(['qemu-system-x86_64', '-name'])).toBeNull();
  });
});
