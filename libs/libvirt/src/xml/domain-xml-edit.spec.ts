import { buildDomainXml } from './domain-xml-builder';
import { replaceUserNics } from './domain-xml-edit';
import { parseDomainXml } from './domain-xml-parser';

const LIBVIRT_XML = `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>limen-x</name>
  <description>a &amp; b &lt;c&gt; &#13; "q" 'q'</description>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><boot dev='hd'/><boot dev='network'/></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/a b/&quot;x&quot;.qcow2'/>
    </disk>
    <controller type='usb'/>
    <disk type='file' device='cdrom'><readonly/><target dev='sda' bus='scsi'/></disk>
    <graphics type='vnc' passwd='p&lt;w&gt;'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='user,id=limen-net0,restrict=on'/>
  </qemu:commandline>
</domain>
`;

describe('replaceUserNics', () => {
  it('replaces the user-mode NICs and keeps everything else of the document as it was', () => {
    const nics = [
      {
        id: 'n1',
        mac: '52:54:00:00:00:01',
        attachment: {
          type: 'user' as const,
          portForwards: [{ protocol: 'tcp' as const, hostAddress: '127.0.0.1', hostPort: 20022, guestPort: 22 }],
        },
      },
    ];
    const edited = replaceUserNics(LIBVIRT_XML, nics, { bootOrder: ['hd', 'network'], hasInterfaces: false });
    const before = parseDomainXml(LIBVIRT_XML);
    const after = parseDomainXml(edited);
    expect(after.description).toBe(before.description);
    expect(after.disks).toEqual(before.disks);
    expect(edited).toContain(`passwd="p&lt;w&gt;"`);
    expect(edited.indexOf('<controller')).toBeGreaterThan(edited.indexOf('<disk'));
    expect(edited.indexOf('<controller')).toBeLessThan(edited.lastIndexOf('<disk'));
    expect(after.nics).toEqual([
      { id: 'n1', mac: '52:54:00:00:00:01', model: 'virtio', attachment: nics[0].attachment },
    ]);
    expect(edited).toContain('hostfwd=tcp:127.0.0.1:20022-:22');
    expect(edited).toContain('&quot;bootindex&quot;:2');
    expect(edited).not.toContain('limen-net0');
  });

  it('drops the command line with the last user-mode NIC, and adds the namespace with the first', () => {
    const none = replaceUserNics(LIBVIRT_XML, [], { hasInterfaces: false });
    expect(none).not.toContain('qemu:commandline');
    expect(parseDomainXml(none).nics).toEqual([]);
    const spec = {
      vmId: 'vm-1',
      ownerId: 'o',
      vcpus: 1,
      memoryMiB: 64,
      disks: [],
      nics: [],
      serialLogPath: '/l',
    };
    const plain = buildDomainXml(spec, 'qemu');
    expect(plain).not.toContain('xmlns:qemu');
    const nic = { id: 'n2', mac: '52:54:00:00:00:02', model: 'e1000e' as const, attachment: { type: 'user' as const } };
    const withNic = replaceUserNics(plain, [nic], { hasInterfaces: false });
    expect(withNic).toContain('xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"');
    expect(parseDomainXml(withNic).nics).toEqual([{ ...nic, attachment: { type: 'user' } }]);
  });
});
