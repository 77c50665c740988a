import { buildPoolXml, buildVolumeXml, parsePoolXml, parseVolumeXml } from './storage-xml';

// What libvirt 9.0 wrote back for a pool and an overlay volume (vol-dumpxml), trimmed of timestamps.
const POOL_DUMP = `<pool type='dir'>
  <name>limen-vms</name>
  <uuid>cd70e5b1-5f91-4485-89ae-b6e3335a1189</uuid>
  <capacity unit='bytes'>270553174016</capacity>
  <allocation unit='bytes'>25183412224</allocation>
  <available unit='bytes'>245369761792</available>
  <source>
  </source>
  <target>
    <path>/var/lib/limen/pool</path>
    <permissions><mode>0711</mode><owner>0</owner><group>0</group></permissions>
  </target>
</pool>`;

const OVERLAY_DUMP = `<volume type='file'>
  <name>b.qcow2</name>
  <key>/var/lib/limen/pool/b.qcow2</key>
  <capacity unit='bytes'>1073741824</capacity>
  <allocation unit='bytes'>200704</allocation>
  <physical unit='bytes'>196624</physical>
  <target>
    <path>/var/lib/limen/pool/b.qcow2</path>
    <format type='qcow2'/>
    <permissions><mode>0600</mode><owner>0</owner><group>0</group></permissions>
    <compat>1.1</compat>
  </target>
  <backingStore>
    <path>/var/lib/limen/pool/a.qcow2</path>
    <format type='raw'/>
    <permissions><mode>0600</mode><owner>0</owner><group>0</group></permissions>
  </backingStore>
</volume>`;

describe('storage pool and volume XML', () => {
  it('builds a dir pool over the folder, 0711, every value escaped', () => {
    const xml = buildPoolXml({ name: 'limen-vms', type: 'dir', path: "/srv/a&b/<c>'d" });
    expect(xml).toContain('<pool type="dir">');
    expect(xml).toContain('<mode>0711</mode>');
    expect(xml).toContain('<path>/srv/a&amp;b/&lt;c&gt;&apos;d</path>');
    expect(parsePoolXml(xml)).toMatchObject({ name: 'limen-vms', type: 'dir', path: "/srv/a&b/<c>'d" });
  });

  it('reads a pool libvirt wrote: folder and sizes in bytes', () => {
    expect(parsePoolXml(POOL_DUMP)).toEqual({
      name: 'limen-vms',
      type: 'dir',
      path: '/var/lib/limen/pool',
      capacityBytes: 270553174016,
      allocationBytes: 25183412224,
      availableBytes: 245369761792,
    });
  });

  it('builds an empty qcow2 (compat 1.1, sparse, 0600) and a raw volume without qcow2 options', () => {
    const qcow2 = buildVolumeXml({ name: 'd.qcow2', format: 'qcow2', capacityBytes: 1073741824 });
    expect(qcow2).toContain('<capacity unit="bytes">1073741824</capacity>');
    expect(qcow2).toContain('<allocation unit="bytes">0</allocation>');
    expect(qcow2).toContain('<format type="qcow2"/>');
    expect(qcow2).toContain('<compat>1.1</compat>');
    expect(qcow2).toContain('<mode>0600</mode>');
    expect(qcow2).not.toContain('backingStore');
    const raw = buildVolumeXml({ name: 'seed.iso', format: 'raw', capacityBytes: 4096 });
    expect(raw).toContain('<format type="raw"/>');
    expect(raw).not.toContain('compat');
  });

  it('builds an overlay with its backing format pinned and no capacity of its own unless given', () => {
    const xml = buildVolumeXml({
      name: 'o.qcow2',
      format: 'qcow2',
      backing: { path: '/var/lib/limen/images/x&y.qcow2', format: 'raw' },
    });
    expect(xml).not.toContain('<capacity');
    expect(xml).toMatch(
      /<backingStore>\s*<path>\/var\/lib\/limen\/images\/x&amp;y\.qcow2<\/path>\s*<format type="raw"\/>\s*<\/backingStore>/,
    );
  });

  it('reads a volume: format, virtual, allocated and file size, backing path and format', () => {
    expect(parseVolumeXml(OVERLAY_DUMP)).toEqual({
      name: 'b.qcow2',
      path: '/var/lib/limen/pool/b.qcow2',
      format: 'qcow2',
      capacityBytes: 1073741824,
      allocationBytes: 200704,
      physicalBytes: 196624,
      backing: { path: '/var/lib/limen/pool/a.qcow2', format: 'raw' },
    });
  });

  it('reads an empty raw file without <physical> or backing', () => {
    const parsed = parseVolumeXml(
      `<volume type='file'><name>z.raw</name><capacity unit='bytes'>0</capacity><allocation unit='bytes'>0</allocation>` +
        `<target><path>/p/z.raw</path><format type='raw'/></target></volume>`,
    );
    expect(parsed).toEqual({ name: 'z.raw', path: '/p/z.raw', format: 'raw', capacityBytes: 0, allocationBytes: 0 });
  });

  it('refuses documents that are not a pool or a volume', () => {
    expect(() => parsePoolXml('<volume/>')).toThrow(expect.objectContaining({ code: 'OPERATION_FAILED' }));
    expect(() => parseVolumeXml('<pool/>')).toThrow(expect.objectContaining({ code: 'OPERATION_FAILED' }));
  });
});
