import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readlinkSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { basename, join } from 'node:path';
import { createVirtualizationPort, NicSpec, PortForwardSpec, VirtualizationPort } from '../src';
import { tapNameOf } from '../src/adapters/qemu-direct/nic-argv';
import { ensureTestGuest, GUEST_MARKER, makeDisk, makeRunDir, waitFor } from './guest-fixture';

/** Whether something accepts TCP connections on 127.0.0.1:port (only loopback traffic, by the rule). */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A free port of the range tests use, found by binding it. */
function forward(hostPort: number, guestPort = 7): PortForwardSpec {
  return { protocol: 'tcp', hostAddress: '127.0.0.1', hostPort, guestPort };
}

/** Turns VLAN filtering on; false (and a note) where the kernel has no CONFIG_BRIDGE_VLAN_FILTERING. */
function enableVlanFiltering(bridge: string): boolean {
  try {
    execFileSync('ip', ['link', 'set', bridge, 'type', 'bridge', 'vlan_filtering', '1'], { stdio: 'pipe' });
    return readFileSync(`/sys/class/net/${bridge}/bridge/vlan_filtering`, 'utf8').trim() === '1';
  } catch (error) {
    const reason = String((error as { stderr?: Buffer }).stderr ?? error).trim();
    process.stdout.write(`[qemu-direct] VLAN tagging not checked here: ${reason}\n`);
    return false;
  }
}

const basePort = 21_000 + Math.floor(Math.random() * 400) * 2;
const isRoot = process.getuid?.() === 0;
const withRoot = isRoot ? it : it.skip;

describe('qemu-direct networking: user-mode and bridge NICs, forwards, guest agent', () => {
  const run = makeRunDir('qd-net');
  const vmId = randomUUID();
  const bridge = `lqbr${randomUUID().slice(0, 8)}`;
  let port: VirtualizationPort;
  const userNic: NicSpec = {
    id: randomUUID(),
    mac: '52:54:00:7a:00:01',
    attachment: { type: 'user', portForwards: [forward(basePort)] },
  };

  beforeAll(async () => {
    port = createVirtualizationPort({ adapter: 'qemu-direct', stateDir: join(run.dir, 'state'), virtType: 'qemu' });
    const guest = ensureTestGuest();
    makeDisk(join(run.dir, 'disk.qcow2'), '16M');
    await port.defineDomain({
      vmId,
      ownerId: 'owner-1',
      vcpus: 1,
      memoryMiB: 256,
      virtType: 'qemu',
      disks: [{ path: join(run.dir, 'disk.qcow2') }],
      nics: [userNic],
      serialLogPath: join(run.dir, 'serial.log'),
      kernel: { kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, cmdline: guest.cmdline },
    });
    if (isRoot) execFileSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
  });

  afterAll(async () => {
    await port.destroy(vmId).catch(() => undefined);
    await port.undefineDomain(vmId, { removeVolumes: true }).catch(() => undefined);
    await port.close();
    if (isRoot) execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
    run.cleanup();
  });

  it('has no managed networks: UNSUPPORTED with the reason, empty lists, hostile names refused', async () => {
    const definition = {
      name: 'limen-net-0a1b2c3d',
      kind: 'isolated' as const,
      bridge: 'lnbr-0a1b2c3d',
      cidr: '10.231.0.0/24',
      gateway: '10.231.0.1',
      dhcpStart: '10.231.0.2',
      dhcpEnd: '10.231.0.254',
    };
    await expect(port.ensureNetwork(definition)).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      message: expect.stringContaining('cannot use libvirt networks'),
    });
    await expect(port.removeNetwork(definition.name)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    expect(await port.listNetworks()).toEqual([]);
    expect(await port.getDhcpLeases(definition.name)).toEqual([]);
    await expect(port.ensureNetwork({ ...definition, name: "limen-net-a'<x>" })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    for (const name of ['br0;reboot', '$(id)', '<br/>', 'a,b', '../eth0', 'x'.repeat(16)])
      await expect(port.hasBridge(name)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await port.hasBridge('lo')).toBe(false);
    expect(await port.listHostRoutes()).toContain('127.0.0.0/8');
    await expect(
      port.attachNic(vmId, {
        id: 'n1',
        mac: '52:54:00:7a:00:09',
        attachment: { type: 'network', network: 'limen-net-0a1b2c3d' },
      }),
    ).rejects.toMatchObject({ code: 'UNSUPPORTED' });
  });

  it('starts with the forwards of its user-mode NIC and reports the NIC and an agent that is not there', async () => {
    await port.start(vmId);
    await waitFor('marker', async () => (await port.tailSerialLog(vmId)).includes(GUEST_MARKER), 60_000);
    expect(await listening(basePort)).toBe(true);
    const info = await port.getDomain(vmId);
    expect(info.nics).toEqual([
      expect.objectContaining({ id: userNic.id, mac: userNic.mac, attachment: userNic.attachment }),
    ]);
    expect(info.mac).toBe(userNic.mac);
    expect(info.guestAgent).toBe('disconnected');
    const started = Date.now();
    await expect(port.getGuestInfo(vmId)).rejects.toMatchObject({ code: 'GUEST_AGENT_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(10_000);
    await expect(port.getInterfaceAddresses(vmId, 'agent')).rejects.toMatchObject({ code: 'GUEST_AGENT_UNAVAILABLE' });
    expect(await port.getInterfaceAddresses(vmId, 'lease')).toEqual([]);
    expect(await port.getInterfaceAddresses(vmId, 'arp')).toEqual([]);
  });

  it('adds and removes forwards live and in the definition', async () => {
    expect(await port.addPortForward(vmId, userNic.id, forward(basePort + 1, 22))).toEqual({
      config: true,
      live: true,
    });
    expect(await listening(basePort + 1)).toBe(true);
    // The same forward again is no change; the same host port to another guest port is refused.
    await port.addPortForward(vmId, userNic.id, forward(basePort + 1, 22));
    await expect(port.addPortForward(vmId, userNic.id, forward(basePort + 1, 80))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(await port.removePortForward(vmId, userNic.id, forward(basePort))).toEqual({ config: true, live: true });
    await port.removePortForward(vmId, userNic.id, forward(basePort));
    expect(await listening(basePort)).toBe(false);
    const nic = (await port.getDomain(vmId)).nics[0];
    expect(nic.attachment).toEqual({ type: 'user', portForwards: [forward(basePort + 1, 22)] });
    await expect(port.addPortForward(vmId, 'no-such-nic', forward(basePort + 2))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('hot-plugs and unplugs a user-mode NIC on the running guest', async () => {
    const nic: NicSpec = {
      id: randomUUID(),
      mac: '52:54:00:7a:00:02',
      model: 'e1000e',
      attachment: { type: 'user', portForwards: [forward(basePort + 3)] },
    };
    expect(await port.attachNic(vmId, nic)).toEqual({ config: true, live: true });
    expect(await listening(basePort + 3)).toBe(true);
    await expect(port.attachNic(vmId, { ...nic, id: randomUUID() })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect((await port.getDomain(vmId)).nics.map((n) => n.id)).toEqual([userNic.id, nic.id]);
    expect(await port.detachNic(vmId, nic.id)).toEqual({ config: true, live: true });
    await waitFor('forward gone with its NIC', async () => !(await listening(basePort + 3)), 10_000);
    expect((await port.getDomain(vmId)).nics.map((n) => n.id)).toEqual([userNic.id]);
    expect((await port.detachNic(vmId, nic.id)).config).toBe(true); // idempotent
    // The freed port of the PCIe slot takes the next NIC.
    expect(await port.attachNic(vmId, { ...nic, attachment: { type: 'user' } })).toEqual({ config: true, live: true });
    await port.detachNic(vmId, nic.id);
  });

  withRoot('hot-plugs a bridge NIC as a tap of the bridge, VLAN-tagged where the bridge filters VLANs', async () => {
    expect(await port.hasBridge(bridge)).toBe(true);
    const nic: NicSpec = { id: randomUUID(), mac: '52:54:00:7a:00:03', attachment: { type: 'bridge', bridge } };
    expect(await port.attachNic(vmId, nic)).toEqual({ config: true, live: true });
    const tap = tapNameOf(vmId, nic.id);
    expect(basename(readlinkSync(`/sys/class/net/${tap}/master`))).toBe(bridge);
    expect(await port.detachNic(vmId, nic.id)).toEqual({ config: true, live: true });
    await waitFor('tap gone', async () => !existsSync(`/sys/class/net/${tap}`), 10_000);

    const tagged: NicSpec = {
      id: randomUUID(),
      mac: '52:54:00:7a:00:04',
      attachment: { type: 'bridge', bridge, vlan: 42 },
    };
    await expect(port.attachNic(vmId, tagged)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    expect(existsSync(`/sys/class/net/${tapNameOf(vmId, tagged.id)}`)).toBe(false);
    if (enableVlanFiltering(bridge)) {
      await port.attachNic(vmId, tagged);
      const vlans = execFileSync('bridge', ['-j', 'vlan', 'show', 'dev', tapNameOf(vmId, tagged.id)], {
        encoding: 'utf8',
      });
      expect(JSON.parse(vlans)[0].vlans).toEqual([
        expect.objectContaining({ vlan: 42, flags: ['PVID', 'Egress Untagged'] }),
      ]);
      await port.detachNic(vmId, tagged.id);
    }
    await expect(
      port.attachNic(vmId, {
        ...nic,
        id: randomUUID(),
        mac: '52:54:00:7a:00:05',
        attachment: { type: 'bridge', bridge: 'lqnosuchbr0' },
      }),
    ).rejects.toMatchObject({ code: 'OPERATION_FAILED', message: expect.stringContaining('does not exist') });
  });

  withRoot('starts with a bridge NIC plugged into its bridge', async () => {
    await port.destroy(vmId);
    const nic: NicSpec = { id: randomUUID(), mac: '52:54:00:7a:00:06', attachment: { type: 'bridge', bridge } };
    expect(await port.attachNic(vmId, nic)).toEqual({ config: true, live: false });
    await port.start(vmId);
    const tap = tapNameOf(vmId, nic.id);
    expect(basename(readlinkSync(`/sys/class/net/${tap}/master`))).toBe(bridge);
    expect(await listening(basePort + 1)).toBe(true);
    expect((await port.getStats(vmId)).net).toEqual([
      expect.objectContaining({ name: tap, rxBytes: expect.any(Number), txPackets: expect.any(Number) }),
    ]);
    await port.destroy(vmId);
    expect(existsSync(`/sys/class/net/${tap}`)).toBe(false);
    expect(await port.detachNic(vmId, nic.id)).toEqual({ config: true, live: false });
  });

  it('reports no agent channel as absent', async () => {
    await port.destroy(vmId).catch(() => undefined);
    const stored = await port.getDomain(vmId);
    expect(stored.guestAgent).toBe('disconnected');
    const guest = ensureTestGuest();
    await port.redefineDomain({
      vmId,
      ownerId: 'owner-1',
      vcpus: 1,
      memoryMiB: 256,
      virtType: 'qemu',
      disks: [{ path: join(run.dir, 'disk.qcow2') }],
      nics: [],
      guestAgent: false,
      serialLogPath: join(run.dir, 'serial.log'),
      kernel: { kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, cmdline: guest.cmdline },
    });
    expect(await port.getDomain(vmId)).toMatchObject({ guestAgent: 'absent', nics: [] });
    expect((await port.getDomain(vmId)).mac).toBeUndefined();
  });
});
