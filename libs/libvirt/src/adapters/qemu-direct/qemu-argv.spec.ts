import { DomainSpec, NicSpec } from '../../models';
import { buildQemuArgv, qemuOptionValue, QemuLaunchOptions } from './qemu-argv';
import { macAddressFor } from '../../naming/domain-name';
import { HOTPLUG_PORTS } from '../../xml/domain-xml-builder';
import { diskNodeName } from './disk-argv';
import { tapNameOf } from './nic-argv';

const PATHS = {
  qmpSocket: '/s/qmp.sock',
  pidFile: '/s/pid',
  vncSocket: '/s/vnc.sock',
  vncSecretFile: '/s/vnc',
  qgaSocket: '/s/qga,1.sock',
};

const BASE: DomainSpec = {
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
};

function argvOf(spec: Partial<DomainSpec> = {}, options: QemuLaunchOptions = {}): string[] {
  return buildQemuArgv({ ...BASE, ...spec }, 'qemu', PATHS, options);
}

function valuesOf(argv: string[], flag: string): string[] {
  return argv.flatMap((arg, i) => (arg === flag ? [argv[i + 1]] : []));
}

const USER_NIC: NicSpec = {
  id: 'nic-a',
  mac: '52:54:00:AA:00:01',
  attachment: {
    type: 'user',
    portForwards: [
      { protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 20022, guestPort: 22 },
      { protocol: 'udp', hostAddress: '127.0.0.1', hostPort: 20053, guestPort: 53 },
    ],
  },
};
const BRIDGE_NIC: NicSpec = {
  id: 'nic-b',
  mac: '52:54:00:aa:00:02',
  model: 'e1000e',
  attachment: { type: 'bridge', bridge: 'br0' },
};

describe('buildQemuArgv', () => {
  const argv = argvOf();
  const value = (flag: string): string[] => valuesOf(argv, flag);

  it('escapes commas in paths inside QEMU option lists', () => {
    expect(qemuOptionValue('a,b')).toBe('a,,b');
    expect(value('-drive')[0]).toBe('file=/vms/a,,b.qcow2,format=qcow2,if=none,id=drive-vda');
    expect(value('-chardev')).toContain('socket,id=qga0,path=/s/qga,,1.sock,server=on,wait=off');
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
    expect(value('-netdev')).toEqual(['user,id=limen-user-vm-1,restrict=on']);
  });

  it('adds an empty CD-ROM drive, serial log and direct kernel boot', () => {
    expect(value('-drive')[1]).toBe('if=none,id=drive-sda,media=cdrom,readonly=on');
    expect(value('-chardev')[0]).toBe('pty,id=serial0,logfile=/vms/serial.log,logappend=on');
    expect(value('-append')).toEqual(['console=ttyS0']);
    expect(value('-smp')).toEqual(['cpus=1,maxcpus=2']);
  });

  it('puts the CD-ROM and the seed ISO on virtio-scsi, never SATA (cloud kernels have no AHCI)', () => {
    const withSeed = argvOf({ seedIsoPath: '/vms/seed.iso', kernel: undefined, bootOrder: ['cdrom', 'hd'] });
    const devices = valuesOf(withSeed, '-device');
    expect(devices).toContain('virtio-scsi-pci,id=scsi0');
    expect(devices).toContain('scsi-cd,bus=scsi0.0,scsi-id=0,lun=0,drive=drive-sda,id=sda,bootindex=1');
    expect(devices).toContain('scsi-cd,bus=scsi0.0,scsi-id=1,lun=0,drive=drive-sdb,id=sdb');
    expect(valuesOf(withSeed, '-drive')).toContain(
      'file=/vms/seed.iso,format=raw,if=none,id=drive-sdb,media=cdrom,readonly=on',
    );
    expect(withSeed.join(' ')).not.toMatch(/ahci|ide-cd|sata/);
    expect(valuesOf(argvOf({ cdrom: undefined }), '-device')).not.toContain('virtio-scsi-pci,id=scsi0');
  });

  it('gives the guest agent a virtio-serial port on a unix socket, unless the spec turns it off', () => {
    expect(value('-device')).toEqual(
      expect.arrayContaining([
        'virtio-serial-pci,id=virtio-serial0',
        'virtserialport,bus=virtio-serial0.0,chardev=qga0,name=org.qemu.guest_agent.0,id=limen-qga0',
      ]),
    );
    const without = argvOf({ guestAgent: false });
    expect(without.join(' ')).not.toContain('guest_agent');
    expect(() => buildQemuArgv(BASE, 'qemu', { ...PATHS, qgaSocket: undefined })).toThrow(/socket/);
  });
});

describe('buildQemuArgv NICs', () => {
  it('gives each NIC its own -netdev/-device pair with ids from the NIC id, forwards as hostfwd', () => {
    const argv = argvOf({ nics: [USER_NIC, BRIDGE_NIC] }, { bridgeMode: 'helper' });
    expect(valuesOf(argv, '-netdev')).toEqual([
      'user,id=limen-user-nic-a,restrict=on,hostfwd=tcp:127.0.0.1:20022-:22,hostfwd=udp:127.0.0.1:20053-:53',
      'bridge,id=limen-tap-nic-b,br=br0',
    ]);
    const devices = valuesOf(argv, '-device');
    expect(devices).toContain(
      'virtio-net-pci,netdev=limen-user-nic-a,mac=52:54:00:aa:00:01,id=ua-nic-nic-a,bus=limen-nicport0',
    );
    expect(devices).toContain('e1000e,netdev=limen-tap-nic-b,mac=52:54:00:aa:00:02,id=ua-nic-nic-b,bus=limen-nicport1');
  });

  it('reserves eight hot-pluggable PCI Express ports on q35, none on pc', () => {
    const ports = (argv: string[]) =>
      valuesOf(argv, '-device').filter((device) => device.startsWith('pcie-root-port,id=limen-nicport'));
    expect(ports(argvOf({ nics: [] }))).toHaveLength(8);
    expect(ports(argvOf({ nics: [] }))[0]).toBe('pcie-root-port,id=limen-nicport0,bus=pcie.0,chassis=1');
    const pc = argvOf({ machine: 'pc', nics: [USER_NIC] });
    expect(ports(pc)).toEqual([]);
    expect(valuesOf(pc, '-device')).toContain(
      'virtio-net-pci,netdev=limen-user-nic-a,mac=52:54:00:aa:00:01,id=ua-nic-nic-a',
    );
  });

  it('opens a tap of its own for a bridge NIC when the adapter plugs taps itself (root)', () => {
    const argv = argvOf({ nics: [BRIDGE_NIC] }, { bridgeMode: 'tap' });
    const tap = tapNameOf('vm-1', 'nic-b');
    expect(tap).toMatch(/^lqt[0-9a-f]{12}$/);
    expect(valuesOf(argv, '-netdev')).toEqual([`tap,id=limen-tap-nic-b,ifname=${tap},script=no,downscript=no`]);
    expect(tapNameOf('vm-2', 'nic-b')).not.toBe(tap);
  });

  it('boots from the first NIC when the boot order says network; no NIC at all with nics: []', () => {
    const argv = argvOf({ nics: [USER_NIC, BRIDGE_NIC], kernel: undefined, bootOrder: ['network', 'hd'] });
    expect(valuesOf(argv, '-device').filter((device) => device.includes('bootindex=1'))).toEqual([
      'virtio-net-pci,netdev=limen-user-nic-a,mac=52:54:00:aa:00:01,id=ua-nic-nic-a,bus=limen-nicport0,bootindex=1',
    ]);
    expect(valuesOf(argvOf({ nics: [] }), '-netdev')).toEqual([]);
  });

  it('refuses libvirt networks with UNSUPPORTED', () => {
    expect(() =>
      argvOf({
        nics: [{ id: 'n', mac: '52:54:00:00:00:09', attachment: { type: 'network', network: 'limen-net-0a1b2c3d' } }],
      }),
    ).toThrow(expect.objectContaining({ code: 'UNSUPPORTED', message: expect.stringContaining('use user or bridge') }));
  });

  it('refuses hostile ids, bridge names, MACs and forwards before they reach an option list', () => {
    const hostile: NicSpec[] = [
      { ...USER_NIC, id: 'a,b' },
      { ...USER_NIC, id: 'a;rm -rf' },
      { ...BRIDGE_NIC, attachment: { type: 'bridge', bridge: 'br0,script=/tmp/x' } },
      { ...BRIDGE_NIC, attachment: { type: 'bridge', bridge: '$(reboot)' } },
      { ...BRIDGE_NIC, attachment: { type: 'bridge', bridge: '<br/>' } },
      { ...USER_NIC, mac: '52:54:00:aa:00:01,id=x' },
      {
        ...USER_NIC,
        attachment: {
          type: 'user',
          portForwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1,guestfwd=x', hostPort: 1, guestPort: 2 }],
        },
      },
      {
        ...USER_NIC,
        attachment: {
          type: 'user',
          portForwards: [{ protocol: 'tcp', hostAddress: 'localhost', hostPort: 0, guestPort: 2 }],
        },
      },
    ];
    for (const nic of hostile)
      expect(() => argvOf({ nics: [nic] })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('buildQemuArgv disks', () => {
  const ids = ['7a1c0000-0000-4000-8000-000000000001', '7a1c0000-0000-4000-8000-000000000002'];
  const disks: DomainSpec['disks'] = [
    { id: ids[0], path: '/pool/boot,1.qcow2', serial: 'boot-1', bootIndex: 1 },
    { id: ids[1], path: '/pool/data.raw', format: 'raw', bus: 'scsi', serial: 'data-2' },
    { path: '/pool/legacy.qcow2' },
    { id: 'third', path: '/pool/third.qcow2' },
  ];
  const json = (argv: string[], flag: string) =>
    valuesOf(argv, flag)
      .filter((value) => value.startsWith('{'))
      .map((value) => JSON.parse(value) as Record<string, unknown>);

  it('gives a disk with an id a block node and a device named after it, with its serial, bus and boot rank', () => {
    const argv = argvOf({ disks, kernel: undefined, bootOrder: ['cdrom', 'hd', 'network'] });
    expect(json(argv, '-blockdev')).toEqual([
      { driver: 'qcow2', 'node-name': diskNodeName(ids[0]), file: { driver: 'file', filename: '/pool/boot,1.qcow2' } },
      { driver: 'raw', 'node-name': diskNodeName(ids[1]), file: { driver: 'file', filename: '/pool/data.raw' } },
      { driver: 'qcow2', 'node-name': diskNodeName('third'), file: { driver: 'file', filename: '/pool/third.qcow2' } },
    ]);
    expect(diskNodeName(ids[0]).length).toBeLessThanOrEqual(31);
    expect(json(argv, '-device').filter((device) => String(device.id).startsWith('ua-disk-'))).toEqual([
      {
        driver: 'virtio-blk-pci',
        bus: 'limen-diskport0',
        drive: diskNodeName(ids[0]),
        id: `ua-disk-${ids[0]}`,
        serial: 'boot-1',
        // cdrom owns boot number 1, hd 2-17.
        bootindex: 2,
      },
      {
        driver: 'scsi-hd',
        bus: 'scsi0.0',
        'scsi-id': 2,
        lun: 0,
        drive: diskNodeName(ids[1]),
        id: `ua-disk-${ids[1]}`,
        serial: 'data-2',
      },
      { driver: 'virtio-blk-pci', bus: 'limen-diskport1', drive: diskNodeName('third'), id: 'ua-disk-third' },
    ]);
    // The disk without an id keeps the -drive of older specs (and does not boot: it has no rank).
    expect(valuesOf(argv, '-drive')[0]).toBe('file=/pool/legacy.qcow2,format=qcow2,if=none,id=drive-vdb');
    expect(valuesOf(argv, '-device')).toContain('virtio-blk-pci,drive=drive-vdb,id=vdb');
    expect(valuesOf(argv, '-device')).toContain(
      'scsi-cd,bus=scsi0.0,scsi-id=0,lun=0,drive=drive-sda,id=sda,bootindex=1',
    );
    expect(valuesOf(argv, '-device')).toContain(
      `virtio-net-pci,netdev=limen-user-vm-1,mac=${macAddressFor('vm-1')},id=ua-nic-vm-1,bus=limen-nicport0,bootindex=18`,
    );
  });

  it('keeps the boot order of older specs without boot ranks: the first disk boots at the place of hd', () => {
    const argv = argvOf({
      disks: [{ path: '/pool/a.qcow2' }, { path: '/pool/b.qcow2' }],
      kernel: undefined,
      bootOrder: ['cdrom', 'hd'],
    });
    expect(valuesOf(argv, '-device')).toEqual(
      expect.arrayContaining([
        'virtio-blk-pci,drive=drive-vda,id=vda,bootindex=2',
        'virtio-blk-pci,drive=drive-vdb,id=vdb',
      ]),
    );
  });

  it('gives each virtio disk with an id a disk port and adds spare ones on q35, in two slots of their own; none on pc', () => {
    const ports = (argv: string[]) =>
      valuesOf(argv, '-device').filter((device) => device.startsWith('pcie-root-port,id=limen-diskport'));
    // Two virtio disks with an id (the SCSI one and the one without id need none).
    const q35 = ports(argvOf({ disks }));
    expect(q35).toHaveLength(2 + HOTPLUG_PORTS);
    expect(q35[0]).toBe('pcie-root-port,id=limen-diskport0,bus=pcie.0,chassis=9,addr=0x10.0,multifunction=on');
    const many = Array.from({ length: 16 }, (_, i) => ({ id: `d${i}`, path: `/pool/d${i}.qcow2` }));
    const full = ports(argvOf({ disks: many }));
    expect(full).toHaveLength(16);
    expect(full[15]).toBe('pcie-root-port,id=limen-diskport15,bus=pcie.0,chassis=24,addr=0x11.7');
    const pc = argvOf({ disks, machine: 'pc' });
    expect(ports(pc)).toEqual([]);
    expect(json(pc, '-device')[0]).not.toHaveProperty('bus');
  });

  it('adds the virtio-scsi controller for a SCSI disk even without CD-ROM or seed', () => {
    expect(valuesOf(argvOf({ disks: [disks[1]], cdrom: undefined }), '-device')).toContain('virtio-scsi-pci,id=scsi0');
    expect(valuesOf(argvOf({ disks: [disks[0]], cdrom: undefined }), '-device')).not.toContain(
      'virtio-scsi-pci,id=scsi0',
    );
  });

  it('refuses hostile serials and ids before they reach QEMU', () => {
    for (const change of [{ serial: 'a,b' }, { serial: 'x'.repeat(21) }, { id: 'a,b' }, { id: '"}' }])
      expect(() => argvOf({ disks: [{ ...disks[0], ...change }] })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
  });
});
