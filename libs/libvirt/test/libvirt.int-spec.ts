import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createVirtualizationPort, DomainSpec, VirtualizationPort } from '../src';
import { LibvirtAdapter } from '../src/adapters/libvirt/libvirt-adapter';
import { VirtTypeResolver } from '../src/host/virt-type-resolver';
import { VirshPool } from '../src/transport/virsh-pool';
import { parseDomainXml } from '../src/xml/domain-xml-parser';
import { makeDisk, makeIso, makeRunDir } from './guest-fixture';
import { describePortContract } from './port-contract';
import { realHarness, removeLibvirtPools } from './real-contract-harness';

const URI = 'qemu:///system';

describePortContract(
  'libvirt',
  realHarness(
    'libvirt',
    () => createVirtualizationPort({ adapter: 'libvirt', uri: URI, virtType: 'qemu' }),
    (pools) => removeLibvirtPools(URI, pools),
  ),
);

function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-c', URI, ...args], { encoding: 'utf8', stdio: 'pipe' });
}

describe('libvirt redefineDomain of a running domain', () => {
  const vmId = randomUUID();
  const name = `limen-${vmId}`;
  const run = makeRunDir('libvirt-redefine');
  let port: VirtualizationPort;

  const spec = (bootOrder: DomainSpec['bootOrder']): DomainSpec => ({
    vmId,
    ownerId: 'owner-1',
    vcpus: 1,
    memoryMiB: 128,
    virtType: 'qemu',
    disks: [{ path: join(run.dir, 'disk.qcow2') }],
    cdrom: { isoPath: makeIso(run.dir, 'install') },
    nics: [],
    serialLogPath: join(run.dir, 'serial.log'),
    bootOrder,
  });

  beforeAll(() => {
    port = createVirtualizationPort({ adapter: 'libvirt', uri: URI, virtType: 'qemu' });
  });

  afterAll(async () => {
    await port.destroy(vmId).catch(() => undefined);
    await port.undefineDomain(vmId, { removeVolumes: true }).catch(() => undefined);
    await port.close();
    run.cleanup();
  });

  it('rewrites only the persistent config: the same QEMU keeps running on the live definition', async () => {
    makeDisk(join(run.dir, 'disk.qcow2'), '16M');
    await port.defineDomain(spec(['cdrom', 'hd']));
    await port.createSnapshot(vmId, { name: 'installed' });
    await port.start(vmId);
    const domId = virsh('domid', name).trim();
    const liveBefore = virsh('dumpxml', name);
    const uuid = virsh('domuuid', name).trim();

    const redefined = await port.redefineDomain(spec(['hd']));
    expect(redefined).toMatchObject({ state: 'running', bootOrder: ['hd'], uuid });

    // Same process (a restart would change the domain id), same live XML.
    expect(virsh('domstate', name).trim()).toBe('running');
    expect(virsh('domid', name).trim()).toBe(domId);
    expect(virsh('dumpxml', name)).toBe(liveBefore);
    expect((await port.getDomain(vmId)).bootOrder).toEqual(['cdrom', 'hd']);
    const inactive = parseDomainXml(virsh('dumpxml', '--inactive', name));
    expect(inactive).toMatchObject({ uuid, bootOrder: ['hd'] });
    expect(virsh('snapshot-list', '--name', name).trim()).toBe('installed');

    // A cold boot picks the new definition up.
    await port.destroy(vmId);
    await port.start(vmId);
    expect((await port.getDomain(vmId)).bootOrder).toEqual(['hd']);
    expect(parseDomainXml(virsh('dumpxml', name)).bootOrder).toEqual(['hd']);
  });
});

describe('libvirt host capabilities while every pooled session is busy', () => {
  it('answers at once: the liveness probe has a session of its own, not a place at the back of the queue', async () => {
    const pool = new VirshPool({ uri: URI, size: 1 });
    const adapter = new LibvirtAdapter({ pool, uri: URI, virtTypes: new VirtTypeResolver('qemu') });
    try {
      // Three commands of 5 s each hold the only session for 15 s.
      const busy = Array.from({ length: 3 }, () =>
        pool.run({ name: 'event', options: { timeout: 5 }, flags: ['all', 'loop'] }),
      );
      const started = Date.now();
      const caps = await adapter.getHostCapabilities();
      expect(caps.cpus).toBeGreaterThan(0);
      expect(Date.now() - started).toBeLessThan(3_000);
      await Promise.all(busy);
    } finally {
      await adapter.close();
    }
  });
});
