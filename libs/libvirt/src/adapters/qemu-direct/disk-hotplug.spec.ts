import { DomainSpec } from '../../models';
import { diskInfosOf } from '../../xml/spec-validation';
import { blockStatsTarget } from './disk-hotplug';

const spec: DomainSpec = {
  vmId: 'vm-1',
  ownerId: 'o',
  vcpus: 1,
  memoryMiB: 64,
  disks: [
    { id: 'boot', path: '/pool/boot.qcow2', serial: 'boot-1', bootIndex: 1 },
    { id: 'data', path: '/pool/data.raw', format: 'raw', bus: 'scsi' },
    { path: '/pool/legacy.qcow2' },
  ],
  cdrom: {},
  seedIsoPath: '/pool/seed.iso',
  serialLogPath: '/pool/serial.log',
};

describe('qemu-direct disks as the api sees them', () => {
  it('reports each disk of the definition with its target, id, bus and serial, then the CD-ROM and the seed', () => {
    expect(diskInfosOf(spec)).toEqual([
      {
        target: 'vda',
        device: 'disk',
        path: '/pool/boot.qcow2',
        format: 'qcow2',
        readonly: false,
        seed: false,
        id: 'boot',
        bus: 'virtio',
        serial: 'boot-1',
      },
      {
        target: 'sdc',
        device: 'disk',
        path: '/pool/data.raw',
        format: 'raw',
        readonly: false,
        seed: false,
        id: 'data',
        bus: 'scsi',
      },
      {
        target: 'vdb',
        device: 'disk',
        path: '/pool/legacy.qcow2',
        format: 'qcow2',
        readonly: false,
        seed: false,
        bus: 'virtio',
      },
      { target: 'sda', device: 'cdrom', format: 'raw', readonly: true, seed: false },
      { target: 'sdb', device: 'cdrom', path: '/pool/seed.iso', format: 'raw', readonly: true, seed: true },
    ]);
  });

  it('names block statistics by target: -drive backends, virtio backends by QOM path, SCSI disks by id', () => {
    expect(blockStatsTarget({ device: 'drive-vdb' }, spec)).toBe('vdb');
    expect(blockStatsTarget({ device: '', qdev: '/machine/peripheral/ua-disk-boot/virtio-backend' }, spec)).toBe('vda');
    expect(blockStatsTarget({ device: '', qdev: 'ua-disk-data' }, spec)).toBe('sdc');
    // A disk unplugged since (or no disk at all): not counted.
    expect(blockStatsTarget({ device: '', qdev: 'ua-disk-gone' }, spec)).toBeUndefined();
    expect(
      blockStatsTarget({ device: '', qdev: '/machine/peripheral-anon/device[3]/virtio-backend' }, spec),
    ).toBeUndefined();
  });
});
