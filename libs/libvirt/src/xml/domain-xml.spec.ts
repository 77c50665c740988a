import { DomainSpec } from '../models';
import { macAddressFor } from '../naming/domain-name';
import { buildDomainXml } from './domain-xml-builder';
import { parseDomainXml } from './domain-xml-parser';

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
