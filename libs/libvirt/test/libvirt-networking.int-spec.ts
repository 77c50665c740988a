import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createVirtualizationPort, DomainSpec, NetworkDefinition, VirtualizationPort } from '../src';
import { buildDomainXml } from '../src/xml/domain-xml-builder';
import { ensureTestGuest, GUEST_MARKER, makeRunDir, TestGuest, waitFor } from './guest-fixture';
import { contractNetwork } from './port-contract-networking';

const URI = 'qemu:///system';

function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-c', URI, ...args], { encoding: 'utf8', stdio: 'pipe' });
}

/** What libvirt itself holds, beyond what the port reports: the network XML, autostart, QEMU's forwards. */
describe('libvirt networking as libvirt and QEMU see it', () => {
  const run = makeRunDir('libvirt-net');
  const vmId = randomUUID();
  const name = `limen-${vmId}`;
  const legacyVmId = randomUUID();
  const isolated: NetworkDefinition = contractNetwork();
  const nat: NetworkDefinition = { ...contractNetwork(), kind: 'nat' };
  let port: VirtualizationPort;
  let guest: TestGuest;

  const spec = (): DomainSpec => ({
    vmId,
    ownerId: 'owner-net',
    vcpus: 1,
    memoryMiB: 128,
    virtType: 'qemu',
    disks: [],
    vnc: { enabled: true, password: 'pw1' },
    serialLogPath: join(run.dir, 'serial.log'),
    kernel: { kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, cmdline: guest.cmdline },
  });

  beforeAll(() => {
    guest = ensureTestGuest();
    port = createVirtualizationPort({ adapter: 'libvirt', uri: URI, virtType: 'qemu' });
  });

  afterAll(async () => {
    for (const id of [vmId, legacyVmId]) {
      await port.destroy(id).catch(() => undefined);
      await port.undefineDomain(id).catch(() => undefined);
    }
    for (const network of [isolated, nat]) await port.removeNetwork(network.name).catch(() => undefined);
    await port.close();
    run.cleanup();
  });

  it('defines isolated networks without <forward> and nat ones with it, started and autostarted', async () => {
    // The nat network is only defined and checked: no guest is put on it.
    for (const network of [isolated, nat]) await port.ensureNetwork(network);
    const isolatedXml = virsh('net-dumpxml', isolated.name);
    expect(isolatedXml).not.toContain('<forward');
    expect(isolatedXml).toContain(`<bridge name='${isolated.bridge}'`);
    expect(virsh('net-dumpxml', nat.name)).toContain("<forward mode='nat'");
    for (const network of [isolated, nat]) {
      expect(virsh('net-info', network.name)).toMatch(/Active:\s+yes[\s\S]*Autostart:\s+yes/);
    }
    // The host route of the bridge is LIMEN's own: not reported as a clash for the next network.
    expect(await port.listHostRoutes()).not.toContain(isolated.cidr);
    await port.removeNetwork(nat.name);
    expect(virsh('net-list', '--all', '--name')).not.toContain(nat.name);
  });

  it('undefines a network libvirt cannot start (its subnet is a host route), leaving nothing behind', async () => {
    const route = (await port.listHostRoutes()).find((cidr) => /\/(1[6-9]|2[0-9]|30)$/.test(cidr));
    if (!route) return;
    const [base] = route.split('/');
    const octets = base.split('.').map(Number);
    const at = (n: number) => [...octets.slice(0, 3), octets[3] + n].join('.');
    const clash = { ...contractNetwork(), cidr: route, gateway: at(1), dhcpStart: at(2), dhcpEnd: at(2) };
    await expect(port.ensureNetwork(clash)).rejects.toMatchObject({ code: 'NETWORK_CONFLICT' });
    expect(virsh('net-list', '--all', '--name')).not.toContain(clash.name);
  });

  it('forwards a host port of the running guest in QEMU itself, and keeps the VNC password through redefinitions', async () => {
    await port.defineDomain(spec());
    await port.start(vmId);
    await waitFor('guest marker', async () => (await port.tailSerialLog(vmId)).includes(GUEST_MARKER), 60_000);
    const hostPort = 20900 + Math.floor(Math.random() * 99);
    const forward = { protocol: 'tcp' as const, hostAddress: '127.0.0.1', hostPort, guestPort: 22 };
    await port.addPortForward(vmId, vmId, forward);
    const usernet = () => virsh('qemu-monitor-command', name, '--hmp', 'info usernet');
    expect(usernet()).toMatch(new RegExp(`TCP\\[HOST_FORWARD\\].*127\\.0\\.0\\.1\\s+${hostPort}\\s`));
    expect(virsh('dumpxml', '--inactive', name)).toContain(`hostfwd=tcp:127.0.0.1:${hostPort}-:22`);
    await port.removePortForward(vmId, vmId, forward);
    expect(usernet()).not.toContain(String(hostPort));
    expect(virsh('dumpxml', '--inactive', '--security-info', name)).toContain("passwd='pw1'");
  });

  it('hot-plugs a NIC with its alias into the live definition and unplugs it again', async () => {
    const nic = {
      id: randomUUID(),
      mac: '52:54:00:c7:00:01',
      attachment: { type: 'network' as const, network: isolated.name },
    };
    await port.attachNic(vmId, nic);
    const live = virsh('dumpxml', name);
    expect(live).toContain(`<alias name='ua-nic-${nic.id}'/>`);
    expect(live).toContain(`<source network='${isolated.name}'`);
    expect(virsh('dumpxml', '--inactive', name)).toContain(`ua-nic-${nic.id}`);
    await port.detachNic(vmId, nic.id);
    expect(virsh('dumpxml', name)).not.toContain(`ua-nic-${nic.id}`);
    expect(virsh('dumpxml', '--inactive', name)).not.toContain(`ua-nic-${nic.id}`);
  });

  it('adds a user-mode NIC to the stopped domain as its own -netdev/-device pair', async () => {
    await port.destroy(vmId);
    const nic = { id: randomUUID(), mac: '52:54:00:c7:00:02', attachment: { type: 'user' as const } };
    expect(await port.attachNic(vmId, nic)).toEqual({ config: true, live: false });
    const xml = virsh('dumpxml', '--inactive', '--security-info', name);
    expect(xml).toContain(`user,id=limen-user-${nic.id},restrict=on`);
    expect(xml).toContain(`user,id=limen-user-${vmId},restrict=on`);
    expect(xml).toContain("passwd='pw1'");
    await port.start(vmId);
    expect((await port.getDomain(vmId)).nics.map((info) => info.id)).toEqual([vmId, nic.id]);
    expect((await port.getDomain(vmId)).guestAgent).toBe('disconnected');
  });

  it('forwards ports of a domain defined before NICs had ids (netdev limen-net0), which its NIC adopts', async () => {
    const xml = buildDomainXml(
      { ...spec(), vmId: legacyVmId, vnc: { enabled: false }, serialLogPath: join(run.dir, 'legacy-serial.log') },
      'qemu',
    )
      .replaceAll(`limen-user-${legacyVmId}`, 'limen-net0')
      .replaceAll(`ua-nic-${legacyVmId}`, 'limen-net0');
    const file = join(run.dir, 'legacy.xml');
    writeFileSync(file, xml);
    virsh('define', file);
    await port.start(legacyVmId);
    expect((await port.getDomain(legacyVmId)).nics).toEqual([
      { mac: expect.any(String), model: 'virtio', attachment: { type: 'user' } },
    ]);
    const nicId = randomUUID();
    const hostPort = 20800 + Math.floor(Math.random() * 99);
    const forward = { protocol: 'tcp' as const, hostAddress: '127.0.0.1', hostPort, guestPort: 22 };
    expect(await port.addPortForward(legacyVmId, nicId, forward)).toEqual({ config: true, live: true });
    const usernet = virsh('qemu-monitor-command', `limen-${legacyVmId}`, '--hmp', 'info usernet');
    expect(usernet).toMatch(new RegExp(`limen-net0[\\s\\S]*127\\.0\\.0\\.1\\s+${hostPort}\\s`));
    expect(virsh('dumpxml', '--inactive', `limen-${legacyVmId}`)).toContain(`user,id=limen-user-${nicId},restrict=on`);
    expect((await port.getDomain(legacyVmId)).nics[0].attachment).toEqual({ type: 'user', portForwards: [forward] });
    expect(await port.removePortForward(legacyVmId, nicId, forward)).toEqual({ config: true, live: true });
  });
});
