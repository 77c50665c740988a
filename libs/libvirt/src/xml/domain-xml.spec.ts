import { DomainSpec } from '../models';
import { macAddressFor } from '../naming/domain-name';
import { buildDomainXml, HOTPLUG_PORTS } from './domain-xml-builder';
import { replaceUserNics } from './domain-xml-edit';
import { parseDomainXml } from './domain-xml-parser';
import { diskTargets, freeDiskTarget } from './spec-validation';
import { childOf, childrenOf, parseXml } from './xml-codec';

const spec: DomainSpec = {
  vmId: '0d6b2c4e-1111-4222-8333-944455556666',
  ownerId: 'owner</limen:ownerId><limen:vmId>evil',
  title: `</title><name>evil</name> & "q" 'q' ]]>`,
  description: ` <!-- not a comment --> &amp; <![CDATA[x]]> \n second line `,
  vcpus: 2,
  maxVcpus: 4,
  memoryMiB: 512,
  maxMemoryMiB: 1024,
  machine: 'pc',
  disks: [{ path: '/var/lib/limen/vms/a b/"disk".qcow2' }, { path: '/var/lib/limen/vms/data.raw', format: 'raw' }],
  cdrom: { isoPath: "/isos/it's.iso" },
  seedIsoPath: '/var/lib/limen/vms/seed.iso',
  nics: [
    {
      id: 'nic-1',
      mac: macAddressFor('0d6b2c4e-1111-4222-8333-944455556666'),
      attachment: { type: 'network', network: 'default' },
    },
  ],
  vnc: { enabled: true, password: 'p<w>"' },
  serialLogPath: '/var/log/limen/serial & co.log',
  bootOrder: ['cdrom', 'hd'],
};

describe('domain XML', () => {
  const xml = buildDomainXml(spec, 'qemu');
  const parsed = parseDomainXml(xml);

  it('round-trips every user string exactly, whatever XML metacharacters it holds', () => {
    expect(parsed.title).toBe(spec.title);
    expect(parsed.description).toBe(spec.description);
    expect(parsed.metadata).toEqual({ vmId: spec.vmId, ownerId: spec.ownerId, seedIsoPath: spec.seedIsoPath });
    expect(parsed.serialLogPath).toBe(spec.serialLogPath);
    expect(parsed.disks.map((d) => d.path)).toEqual([
      spec.disks[0].path,
      spec.disks[1].path,
      spec.cdrom?.isoPath,
      spec.seedIsoPath,
    ]);
  });

  it('names the domain after the VM id and never after user strings', () => {
    expect(parsed.name).toBe(`limen-${spec.vmId}`);
    expect(xml.match(/<name>/g)).toHaveLength(1);
  });

  it('builds the devices the spec asks for', () => {
    expect(parsed).toMatchObject({
      virtType: 'qemu',
      machine: 'pc',
      vcpus: 2,
      maxVcpus: 4,
      memoryMiB: 512,
      maxMemoryMiB: 1024,
      vncEnabled: true,
    });
    expect(parsed.disks.map((d) => [d.target, d.device, d.format, d.seed])).toEqual([
      ['vda', 'disk', 'qcow2', false],
      ['vdb', 'disk', 'raw', false],
      ['sda', 'cdrom', 'raw', false],
      ['sdb', 'cdrom', 'raw', true],
    ]);
    expect(parsed.mac).toBe(macAddressFor(spec.vmId));
    expect(xml).toContain('<source network="default"/>');
    expect(xml).toContain('<boot dev="cdrom"/>');
    expect(xml).toContain('<listen type="socket"/>');
    expect(xml).not.toMatch(/listen="|type="address"|autoport/);
  });

  it('security 11.1: gives user-mode guests a restricted slirp NIC (no way to the host loopback) and reads its MAC back', () => {
    const userSpec: DomainSpec = { ...spec, nics: undefined };
    const userXml = buildDomainXml(userSpec, 'qemu');
    expect(userXml).not.toContain('<interface');
    expect(userXml).toContain('xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"');
    expect(userXml).toContain(`<qemu:arg value="user,id=limen-user-${spec.vmId},restrict=on"/>`);
    expect(parseDomainXml(userXml).mac).toBe(macAddressFor(spec.vmId));
    expect(parseDomainXml(userXml).nics).toEqual([
      { id: spec.vmId, mac: macAddressFor(spec.vmId), model: 'virtio', attachment: { type: 'user' } },
    ]);
    // As libvirt writes it back (single quotes, its own entity style), from before NICs had ids.
    const live =
      parseDomainXml(`<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>limen-x</name>
  <qemu:commandline><qemu:arg value='-netdev'/><qemu:arg value='user,id=limen-net0,restrict=on'/><qemu:arg value='-device'/>
  <qemu:arg value='{&quot;driver&quot;:&quot;virtio-net-pci&quot;,&quot;netdev&quot;:&quot;limen-net0&quot;,&quot;id&quot;:&quot;limen-net0&quot;,&quot;mac&quot;:&quot;52:54:00:aa:bb:cc&quot;}'/>
  </qemu:commandline></domain>`);
    expect(live.mac).toBe('52:54:00:aa:bb:cc');
    expect(live.nics).toEqual([{ mac: '52:54:00:aa:bb:cc', model: 'virtio', attachment: { type: 'user' } }]);
    // A NIC that boots from the network takes its place in the boot order.
    const netBoot = buildDomainXml({ ...userSpec, bootOrder: ['hd', 'network'] }, 'qemu');
    expect(netBoot).toContain('&quot;bootindex&quot;:2');
    expect(buildDomainXml({ ...spec, nics: [] }, 'qemu')).not.toContain('qemu:');
  });

  it('parses what libvirt writes back (KiB units, live pty and VNC socket, numeric entities)', () => {
    const live = parseDomainXml(`<domain type='kvm' id='3'>
  <name>limen-x</name><uuid>u-1</uuid><description>a&#13;b</description>
  <metadata><lm:instance xmlns:lm="https://limen.dev/xmlns/domain/1"><lm:vmId>x</lm:vmId><lm:ownerId>o</lm:ownerId></lm:instance></metadata>
  <memory unit='KiB'>524288</memory><currentMemory unit='KiB'>262144</currentMemory><vcpu placement='static'>1</vcpu>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
  <devices><serial type='pty'><source path='/dev/pts/4'/><log file='/l.log' append='on'/></serial>
  <graphics type='vnc' socket='/var/lib/libvirt/qemu/domain-3-limen-x/vnc.sock'><listen type='socket' socket='/var/lib/libvirt/qemu/domain-3-limen-x/vnc.sock'/></graphics></devices></domain>`);
    expect(live).toMatchObject({
      uuid: 'u-1',
      virtType: 'kvm',
      memoryMiB: 256,
      maxMemoryMiB: 512,
      vcpus: 1,
      serialPtyPath: '/dev/pts/4',
      vncSocketPath: '/var/lib/libvirt/qemu/domain-3-limen-x/vnc.sock',
      description: 'a\rb',
    });
    expect(live.metadata).toEqual({ vmId: 'x', ownerId: 'o' });
  });

  it('rejects specs libvirt would reject or that could not be derived safely', () => {
    expect(() => buildDomainXml({ ...spec, vmId: '../etc' }, 'qemu')).toThrow(/invalid VM id/);
    expect(() => buildDomainXml({ ...spec, title: 'two\nlines' }, 'qemu')).toThrow(/single line/);
    expect(() => buildDomainXml({ ...spec, disks: [{ path: 'relative.qcow2' }] }, 'qemu')).toThrow(/absolute/);
    expect(() =>
      buildDomainXml({ ...spec, nics: [{ id: 'n', mac: '01:00:00:00:00:01', attachment: { type: 'user' } }] }, 'qemu'),
    ).toThrow(/multicast/);
    expect(() => buildDomainXml({ ...spec, vcpus: 8 }, 'qemu')).toThrow(/maxVcpus/);
  });

  // Found by test/reliability/property-domain-xml.spec.ts: libvirt read "a\r\nb" back as "a\nb",
  // and refused the whole definition for a description holding U+FFFE or a control character.
  it('keeps carriage returns as character references, so libvirt does not turn them into newlines', () => {
    const xml = buildDomainXml({ ...spec, description: 'a\r\nb\rc' }, 'qemu');
    expect(xml).toContain('<description>a&#13;\nb&#13;c</description>');
    expect(parseDomainXml(xml).description).toBe('a\r\nb\rc');
    // libvirt 9.0 writes them back raw; they are still carriage returns, not newlines.
    expect(
      parseDomainXml('<domain><name>limen-x</name><description>a\r\nb\rc</description></domain>').description,
    ).toBe('a\r\nb\rc');
  });

  it.each([['\u0000'], ['\u0001'], ['\u001b'], ['\ufffe'], ['\uffff'], ['\ud800'], ['\udfff']])(
    'refuses %j, which no XML document can hold',
    (c) => {
      expect(() => buildDomainXml({ ...spec, description: `a${c}b` }, 'qemu')).toThrow(
        expect.objectContaining({
          code: 'INVALID_ARGUMENT',
          message: expect.stringMatching(/^description holds characters XML cannot represent/),
        }),
      );
      // Tabs, newlines, astral characters and the last BMP character are fine.
      expect(
        parseDomainXml(buildDomainXml({ ...spec, description: 'a\tb\n\u{1f600}\ufffd\u0085' }, 'qemu')).description,
      ).toBe('a\tb\n\u{1f600}\ufffd\u0085');
    },
  );

  it('writes a given UUID (redefine keeps the domain UUID) and only a well-formed one', () => {
    const uuid = '6f1c2d3e-4a5b-4c6d-8e7f-001122334455';
    expect(parseDomainXml(buildDomainXml(spec, 'qemu', { uuid })).uuid).toBe(uuid);
    expect(parsed.uuid).toBe('');
    expect(() => buildDomainXml(spec, 'qemu', { uuid: '</uuid><name>x</name>' })).toThrow(/UUID/);
  });

  it('parses the firmware boot order, and none with direct kernel boot', () => {
    expect(parsed.bootOrder).toEqual(['cdrom', 'hd']);
    expect(parseDomainXml(buildDomainXml({ ...spec, bootOrder: undefined }, 'qemu')).bootOrder).toEqual(['hd']);
    expect(
      parseDomainXml(buildDomainXml({ ...spec, kernel: { kernelPath: '/boot/vmlinuz' } }, 'qemu')).bootOrder,
    ).toBeUndefined();
    // libvirt also allows per-device <boot order='N'/> instead of <os><boot dev=.../>.
    const perDevice = parseDomainXml(`<domain type='qemu'><name>limen-x</name><uuid>u</uuid>
  <os><type arch='x86_64' machine='q35'>hvm</type></os><devices>
  <disk type='file' device='disk'><target dev='vda'/><boot order='2'/></disk>
  <disk type='file' device='cdrom'><target dev='sda'/><boot order='3'/></disk>
  <interface type='user'><boot order='1'/></interface></devices></domain>`);
    expect(perDevice.bootOrder).toEqual(['network', 'hd', 'cdrom']);
  });

  it('gives different VMs different MAC addresses in the 52:54:00 range', () => {
    const macs = new Set(Array.from({ length: 200 }, (_, i) => macAddressFor(`vm-${i}`)));
    expect(macs.size).toBe(200);
    for (const mac of macs) expect(mac).toMatch(/^52:54:00:/);
  });
});

describe('domain XML with several disks', () => {
  const ids = ['7a1c0000-0000-4000-8000-000000000001', '7a1c0000-0000-4000-8000-000000000002'];
  const disks: DomainSpec['disks'] = [
    { id: ids[0], path: '/pool/boot.qcow2', serial: 'boot-1', bootIndex: 1 },
    { id: ids[1], path: '/pool/data.qcow2', bus: 'scsi', serial: 'data-2' },
    { path: '/pool/legacy.raw', format: 'raw' },
    { id: 'third', path: '/pool/third.qcow2', bus: 'scsi' },
  ];
  const multi: DomainSpec = { ...spec, machine: undefined, nics: [], disks, bootOrder: undefined };
  const devicesOf = (xml: string) => childOf(childOf(parseXml(xml), 'domain'), 'devices');
  const diskNodes = (xml: string) => childrenOf(devicesOf(xml), 'disk');

  it('gives each disk its alias, serial and target: virtio vdX, SCSI sdX after the CD-ROM and the seed', () => {
    const xml = buildDomainXml(multi, 'qemu');
    const parsed = parseDomainXml(xml);
    expect(
      parsed.disks.map(({ target, device, id, bus, serial, seed }) => ({ target, device, id, bus, serial, seed })),
    ).toEqual([
      { target: 'vda', device: 'disk', id: ids[0], bus: 'virtio', serial: 'boot-1', seed: false },
      { target: 'sdc', device: 'disk', id: ids[1], bus: 'scsi', serial: 'data-2', seed: false },
      { target: 'vdb', device: 'disk', id: undefined, bus: 'virtio', serial: undefined, seed: false },
      { target: 'sdd', device: 'disk', id: 'third', bus: 'scsi', serial: undefined, seed: false },
      { target: 'sda', device: 'cdrom', id: undefined, bus: undefined, serial: undefined, seed: false },
      { target: 'sdb', device: 'cdrom', id: undefined, bus: undefined, serial: undefined, seed: true },
    ]);
    expect(xml).toContain(`<alias name="ua-disk-${ids[1]}"/>`);
    // SCSI disks sit on the virtio-scsi controller at their target's unit, clear of units 0 and 1.
    const units = diskNodes(xml).map((node) => childOf(node, 'address')?.['@_unit']);
    expect(units).toEqual([undefined, '2', undefined, '3', undefined, undefined]);
    expect(childrenOf(devicesOf(xml), 'controller').filter((c) => c['@_type'] === 'scsi')).toEqual([
      { '@_type': 'scsi', '@_index': '0', '@_model': 'virtio-scsi' },
    ]);
    // No CD-ROM and no seed: a SCSI disk still brings its controller (else libvirt adds an LSI one).
    const bare = buildDomainXml({ ...multi, cdrom: undefined, seedIsoPath: undefined }, 'qemu');
    expect(childrenOf(devicesOf(bare), 'controller').map((c) => c['@_model'])).toContain('virtio-scsi');
    expect(parseDomainXml(bare).disks.map((d) => d.target)).toEqual(['vda', 'sdc', 'vdb', 'sdd']);
    expect(diskTargets(disks)).toEqual(['vda', 'sdc', 'vdb', 'sdd']);
    expect(freeDiskTarget('scsi', new Set(['sda', 'sdb', 'sdc']))).toBe('sdd');
    expect(freeDiskTarget('virtio', new Set(['vdb']))).toBe('vda');
  });

  it('declares spare PCI Express root ports on q35 for hot-plug, none on pc', () => {
    const ports = (xml: string) =>
      childrenOf(devicesOf(xml), 'controller').filter((c) => c['@_model'] === 'pcie-root-port').length;
    // 2 virtio disks, USB, balloon, agent channel, SCSI controller: 6 placed by libvirt.
    expect(ports(buildDomainXml(multi, 'qemu'))).toBe(6 + HOTPLUG_PORTS);
    expect(ports(buildDomainXml({ ...multi, machine: 'pc' }, 'qemu'))).toBe(0);
  });

  it('keeps <os><boot> when no disk has a boot index', () => {
    const plain = {
      ...multi,
      disks: disks.map(({ bootIndex: _b, ...disk }) => disk),
      bootOrder: ['cdrom', 'hd'] as const,
    };
    const xml = buildDomainXml({ ...plain, bootOrder: [...plain.bootOrder] }, 'qemu');
    expect(xml).toContain('<boot dev="cdrom"/>');
    expect(xml).not.toContain('<boot order=');
    expect(parseDomainXml(xml).bootOrder).toEqual(['cdrom', 'hd']);
  });

  it('with boot indexes, writes per-device boot numbers only, in bootOrder order, disks ranked by bootIndex', () => {
    const ranked: DomainSpec = {
      ...multi,
      nics: undefined,
      disks: [{ ...disks[0], bootIndex: 7 }, { ...disks[1], bootIndex: 3 }, disks[2]],
      bootOrder: ['cdrom', 'hd', 'network'],
    };
    const xml = buildDomainXml(ranked, 'qemu');
    const os = childOf(childOf(parseXml(xml), 'domain'), 'os');
    expect(childrenOf(os, 'boot')).toEqual([]);
    // cdrom owns 1, hd owns 2-17 (16 disks at most), network 18.
    expect(diskNodes(xml).map((node) => childOf(node, 'boot')?.['@_order'])).toEqual([
      '3',
      '2',
      undefined,
      '1',
      undefined,
    ]);
    expect(xml).toContain('&quot;bootindex&quot;:18');
    expect(parseDomainXml(xml).bootOrder).toEqual(['cdrom', 'hd', 'network']);
    // An <interface> takes network boot before any user-mode NIC.
    const bridged = buildDomainXml(
      {
        ...ranked,
        nics: [{ id: 'n1', mac: '52:54:00:00:00:09', attachment: { type: 'network', network: 'default' } }],
      },
      'qemu',
    );
    expect(childOf(childrenOf(devicesOf(bridged), 'interface')[0], 'boot')).toEqual({ '@_order': '18' });
    expect(parseDomainXml(bridged).bootOrder).toEqual(['cdrom', 'hd', 'network']);
    // Direct kernel boot: no firmware boot order at all.
    const kernel = buildDomainXml({ ...ranked, kernel: { kernelPath: '/boot/vmlinuz' } }, 'qemu');
    expect(kernel).not.toMatch(/<boot |bootindex/);
  });

  it('gives a user-mode NIC plugged later the network number of the boot mode the definition uses', () => {
    const ranked = buildDomainXml({ ...multi, nics: [], bootOrder: ['hd', 'network'] }, 'qemu');
    const nic = { id: 'n3', mac: '52:54:00:00:00:03', attachment: { type: 'user' as const } };
    const edited = replaceUserNics(ranked, [nic], { bootOrder: ['hd', 'network'], hasInterfaces: false });
    expect(edited).toContain('&quot;bootindex&quot;:17');
    expect(parseDomainXml(edited).bootOrder).toEqual(['hd', 'network']);
    const plain = buildDomainXml({ ...multi, disks: [disks[2]], nics: [], bootOrder: ['hd', 'network'] }, 'qemu');
    const editedPlain = replaceUserNics(plain, [nic], { bootOrder: ['hd', 'network'], hasInterfaces: false });
    expect(editedPlain).toContain('&quot;bootindex&quot;:2');
  });

  it.each([
    ['a serial over 20 characters', { serial: 'x'.repeat(21) }, /serial/],
    ['a serial with markup', { serial: '</serial><x>' }, /serial/],
    ['a serial with a comma (a QEMU option separator)', { serial: 'a,b' }, /serial/],
    ['an empty serial', { serial: '' }, /serial/],
    ['an id with a quote', { id: "x'y" }, /disk id/],
    ['an id with a slash', { id: '../x' }, /disk id/],
    ['an id with a space', { id: 'a b' }, /disk id/],
    ['an unknown bus', { bus: 'ide' }, /bus/],
    ['a negative boot index', { bootIndex: -1 }, /bootIndex/],
    ['a fractional boot index', { bootIndex: 1.5 }, /bootIndex/],
    ['a relative path', { path: 'disk.qcow2' }, /absolute/],
    ['an unknown format', { format: 'vmdk' }, /format/],
  ])('refuses %s as INVALID_ARGUMENT', (_label, change, message) => {
    const bad = { ...multi, disks: [{ ...disks[0], ...change } as DomainSpec['disks'][number]] };
    expect(() => buildDomainXml(bad, 'qemu')).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) }),
    );
  });

  it('refuses a 17th disk and two disks with the same id, serial or boot index', () => {
    const many = Array.from({ length: 17 }, (_, i) => ({ path: `/pool/d${i}.qcow2` }));
    expect(() => buildDomainXml({ ...multi, disks: many }, 'qemu')).toThrow(/at most 16 disks/);
    expect(() => buildDomainXml({ ...multi, disks: many.slice(0, 16) }, 'qemu')).not.toThrow();
    for (const key of ['id', 'serial', 'bootIndex'] as const) {
      const twice = [disks[0], { ...disks[1], [key]: disks[0][key] }];
      expect(() => buildDomainXml({ ...multi, disks: twice }, 'qemu')).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: `two disks have the same ${key}` }),
      );
    }
  });
});
