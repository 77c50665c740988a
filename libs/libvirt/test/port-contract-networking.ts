import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { DomainSpec, NetworkDefinition, NicSpec, PortForwardSpec } from '../src/models';
import { VirtualizationPort } from '../src/port/virtualization-port';

/**
 * What an adapter supports of networking (issue 14). Every case runs where its capability holds;
 * an adapter answers the others UNSUPPORTED. Default: everything.
 */
export interface NetworkingCapabilities {
  /** ensureNetwork & co, and NICs on LIMEN networks and host bridges (libvirt; not qemu-direct). */
  managedNetworks: boolean;
  /** attachNic, detachNic and port forwards. */
  nicChanges: boolean;
  /** The guest agent channel and the agent calls (which answer GUEST_AGENT_UNAVAILABLE on the tiny guest). */
  guestAgent: boolean;
  /**
   * User-mode NICs hot-plug into a running domain (qemu-direct: netdev_add). Where they cannot
   * (libvirt keeps them in the QEMU command line), attachNic and detachNic answer INVALID_STATE.
   */
  userNicHotPlug: boolean;
}

/** The part of the contract run the networking steps use. */
export interface NetworkingRun {
  readonly port: VirtualizationPort;
  readonly dir: string;
  /** The main VM: the tiny guest with the default user-mode NIC (id = its VM id); running in describeRunningNetworking. */
  readonly vmId: string;
  /** A domain that is only ever defined, for NIC changes on a stopped domain. */
  readonly nicVmId: string;
  /** The isolated network the steps create (removed again by the last step and by the run's cleanup). */
  readonly network: NetworkDefinition;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const mac = () => `52:54:00:${hex(1)}:${hex(1)}:${hex(1)}`;

/** An isolated network on a subnet unlikely to clash (10.231.100-199.0/24), named for this run. */
export function contractNetwork(): NetworkDefinition {
  const suffix = hex(3);
  const third = 100 + Math.floor(Math.random() * 100);
  return {
    name: `limen-net-ct${suffix}`,
    kind: 'isolated',
    bridge: `lnbr-ct${suffix}`,
    cidr: `10.231.${third}.0/24`,
    gateway: `10.231.${third}.1`,
    dhcpStart: `10.231.${third}.2`,
    dhcpEnd: `10.231.${third}.254`,
  };
}

function forward(hostPort: number, guestPort: number): PortForwardSpec {
  return { protocol: 'tcp', hostAddress: '127.0.0.1', hostPort, guestPort };
}

function nicSpec(run: NetworkingRun, nics: NicSpec[], guestAgent = true): DomainSpec {
  return {
    vmId: run.nicVmId,
    ownerId: 'owner-nics',
    vcpus: 1,
    memoryMiB: 64,
    virtType: 'qemu',
    disks: [],
    nics,
    guestAgent,
    serialLogPath: join(run.dir, 'nics-serial.log'),
  };
}

export function describeNicDefinitions(run: () => NetworkingRun, caps: NetworkingCapabilities): void {
  const hostPort = 20000 + Math.floor(Math.random() * 900);
  const user: NicSpec = {
    id: randomUUID(),
    mac: mac(),
    model: 'e1000e',
    attachment: { type: 'user', portForwards: [forward(hostPort, 22)] },
  };
  const user2: NicSpec = { id: randomUUID(), mac: mac(), model: 'virtio', attachment: { type: 'user' } };
  const onNetwork = (): NicSpec => ({
    id: randomUUID(),
    mac: mac(),
    model: 'virtio',
    attachment: { type: 'network', network: run().network.name },
  });
  const onBridge: NicSpec = {
    id: randomUUID(),
    mac: mac(),
    model: 'rtl8139',
    attachment: { type: 'bridge', bridge: 'br-limen-ct', vlan: 42 },
  };

  it('reports the NICs of a definition: libvirt interfaces first, then user-mode NICs with their forwards', async () => {
    const { port } = run();
    const network = onNetwork();
    const nics = caps.managedNetworks ? [user, network, user2, onBridge] : [user, user2];
    const info = await port.defineDomain(nicSpec(run(), nics, false));
    const expected = caps.managedNetworks ? [network, onBridge, user, user2] : [user, user2];
    expect(info.nics).toEqual(expected);
    expect(info.mac).toBe(expected[0].mac);
    if (caps.guestAgent) expect(info.guestAgent).toBe('absent');
    const tooMany = Array.from({ length: 9 }, () => ({ ...user2, id: randomUUID(), mac: mac() }));
    await expect(port.redefineDomain(nicSpec(run(), tooMany))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const redefined = await port.redefineDomain(nicSpec(run(), [user]));
    expect(redefined.nics).toEqual([user]);
    if (caps.guestAgent) expect(redefined.guestAgent).toBe('disconnected');
  });

  (caps.nicChanges ? it : it.skip)('adds and removes NICs of a stopped domain, refusing duplicates', async () => {
    const { port, nicVmId } = run();
    const added = caps.managedNetworks ? [onNetwork(), user2] : [user2];
    for (const nic of added) expect(await port.attachNic(nicVmId, nic)).toEqual({ config: true, live: false });
    expect((await port.getDomain(nicVmId)).nics.map((nic) => nic.id).sort()).toEqual(
      [user, ...added].map((nic) => nic.id).sort(),
    );
    const duplicateId = { ...user2, mac: mac() };
    const duplicateMac = { ...user2, id: randomUUID() };
    const hostile = { ...user2, id: randomUUID(), mac: mac(), attachment: { type: 'network', network: "x'/><a b='" } };
    for (const nic of [duplicateId, duplicateMac, hostile] as NicSpec[])
      await expect(port.attachNic(nicVmId, nic)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    for (const nic of added) expect((await port.detachNic(nicVmId, nic.id)).config).toBe(true);
    await port.detachNic(nicVmId, user2.id); // not there any more: fine
    expect((await port.getDomain(nicVmId)).nics).toEqual([user]);
  });

  (caps.nicChanges ? it : it.skip)('keeps port forwards of a user-mode NIC in the definition', async () => {
    const { port, nicVmId } = run();
    const http = forward(hostPort + 1, 80);
    expect(await port.addPortForward(nicVmId, user.id, http)).toEqual({ config: true, live: false });
    await port.addPortForward(nicVmId, user.id, http); // idempotent
    const forwardsOf = async () =>
      (await port.getDomain(nicVmId)).nics.flatMap((nic) =>
        nic.attachment.type === 'user' ? (nic.attachment.portForwards ?? []) : [],
      );
    expect(await forwardsOf()).toEqual([forward(hostPort, 22), http]);
    await expect(port.addPortForward(nicVmId, user.id, forward(hostPort + 1, 81))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(
      port.addPortForward(nicVmId, user.id, { ...http, hostAddress: '127.0.0.1,hostfwd=tcp::1-:22' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(port.addPortForward(nicVmId, randomUUID(), http)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await port.removePortForward(nicVmId, user.id, http);
    await port.removePortForward(nicVmId, user.id, http); // not there any more: fine
    expect(await forwardsOf()).toEqual([forward(hostPort, 22)]);
    await port.undefineDomain(nicVmId);
  });
}

export function describeNetworks(run: () => NetworkingRun, caps: NetworkingCapabilities): void {
  const maybe = caps.managedNetworks ? it : it.skip;

  (caps.managedNetworks ? it.skip : it)(
    'answers UNSUPPORTED for managed networks, lists none, and still checks names and bridges',
    async () => {
      const { port, network } = run();
      await expect(port.ensureNetwork(network)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
      await expect(port.removeNetwork(network.name)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
      expect(await port.listNetworks()).toEqual([]);
      expect(await port.getDhcpLeases(network.name)).toEqual([]);
      await expect(port.ensureNetwork({ ...network, name: `limen-net-a'"<x>` })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(port.hasBridge('br0/../../x')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(await port.hasBridge('no-such-br0')).toBe(false);
      for (const cidr of await port.listHostRoutes()) expect(cidr).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
      const onNetwork: NicSpec = {
        id: randomUUID(),
        mac: mac(),
        attachment: { type: 'network', network: network.name },
      };
      // The main VM is defined (stopped) by now: a NIC on a network is refused for what it is.
      await expect(port.attachNic(run().vmId, onNetwork)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    },
  );

  maybe('defines an isolated network once: idempotent, listed, active, without leases', async () => {
    const { port, network } = run();
    expect(await port.ensureNetwork(network)).toEqual({ ...network, active: true });
    expect(await port.ensureNetwork(network)).toEqual({ ...network, active: true });
    expect((await port.listNetworks()).filter((other) => other.name === network.name)).toEqual([
      { ...network, active: true },
    ]);
    expect(await port.getDhcpLeases(network.name)).toEqual([]);
    expect(await port.hasBridge(network.bridge)).toBe(true);
    expect(await port.hasBridge('no-such-br0')).toBe(false);
  });

  maybe(
    'refuses clashing networks (same name, overlapping subnet, a host route) and leaves nothing behind',
    async () => {
      const { port, network } = run();
      const other = contractNetwork();
      const overlapping = {
        ...other,
        cidr: network.cidr,
        gateway: network.gateway,
        dhcpStart: network.dhcpStart,
        dhcpEnd: network.dhcpEnd,
      };
      await expect(port.ensureNetwork({ ...network, dhcpEnd: network.dhcpStart })).rejects.toMatchObject({
        code: 'NETWORK_CONFLICT',
      });
      await expect(port.ensureNetwork(overlapping)).rejects.toMatchObject({ code: 'NETWORK_CONFLICT' });
      const route = (await port.listHostRoutes()).find((cidr) => /\/(1[6-9]|2[0-9]|30)$/.test(cidr));
      if (route) {
        const [base] = route.split('/');
        const octets = base.split('.').map(Number);
        const at = (n: number) => [...octets.slice(0, 3), octets[3] + n].join('.');
        const onRoute = { ...other, cidr: route, gateway: at(1), dhcpStart: at(2), dhcpEnd: at(2) };
        await expect(port.ensureNetwork(onRoute)).rejects.toMatchObject({ code: 'NETWORK_CONFLICT' });
      }
      expect((await port.listNetworks()).map((listed) => listed.name)).not.toContain(other.name);
    },
  );

  maybe('refuses names and bridges with XML or shell characters before anything is defined', async () => {
    const { port, network } = run();
    for (const name of [`limen-net-a'"<x>`, 'limen-net-$(id)', 'limen-net-a;reboot', 'default'])
      await expect(port.ensureNetwork({ ...network, name })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(port.ensureNetwork({ ...network, bridge: 'br;reboot' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    await expect(port.hasBridge('br0/../../x')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(port.removeNetwork("limen-net-x'")).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(
      (await port.listNetworks()).map((listed) => listed.name).filter((name) => !/^limen-net-[a-z0-9-]+$/.test(name)),
    ).toEqual([]);
  });
}

export function describeRunningNetworking(run: () => NetworkingRun, caps: NetworkingCapabilities): void {
  (caps.guestAgent ? it : it.skip)(
    'answers GUEST_AGENT_UNAVAILABLE for the tiny guest, which runs no agent',
    async () => {
      const { port, vmId } = run();
      expect((await port.getDomain(vmId)).guestAgent).toBe('disconnected');
      const unavailable = { code: 'GUEST_AGENT_UNAVAILABLE' };
      await expect(port.getGuestInfo(vmId)).rejects.toMatchObject(unavailable);
      await expect(port.guestExec(vmId, ['/bin/true'], { timeoutMs: 5_000 })).rejects.toMatchObject(unavailable);
      await expect(port.getInterfaceAddresses(vmId, 'agent')).rejects.toMatchObject(unavailable);
      await expect(port.freezeFilesystems(vmId)).rejects.toMatchObject(unavailable);
      // Its only NIC is user-mode: no lease anywhere.
      expect(await port.getInterfaceAddresses(vmId, 'lease')).toEqual([]);
    },
  );

  (caps.nicChanges ? it : it.skip)(
    'adds and removes a port forward of the running guest live; user-mode NICs only hot-plug where the adapter can',
    async () => {
      const { port, vmId } = run();
      const ssh = forward(20900 + Math.floor(Math.random() * 99), 22);
      expect(await port.addPortForward(vmId, vmId, ssh)).toEqual({ config: true, live: true });
      expect(await port.addPortForward(vmId, vmId, ssh)).toEqual({ config: true, live: true });
      const nic = (await port.getDomain(vmId)).nics.find((candidate) => candidate.id === vmId);
      expect(nic?.attachment).toEqual({ type: 'user', portForwards: [ssh] });
      expect(await port.removePortForward(vmId, vmId, ssh)).toEqual({ config: true, live: true });
      const user: NicSpec = { id: randomUUID(), mac: mac(), attachment: { type: 'user' } };
      if (caps.userNicHotPlug) {
        expect(await port.attachNic(vmId, user)).toEqual({ config: true, live: true });
        expect((await port.detachNic(vmId, user.id)).config).toBe(true);
        return;
      }
      await expect(port.attachNic(vmId, user)).rejects.toMatchObject({
        code: 'INVALID_STATE',
        message: expect.stringContaining('a user-mode NIC can only be added to or removed from a stopped VM'),
      });
      await expect(port.detachNic(vmId, vmId)).rejects.toMatchObject({ code: 'INVALID_STATE' });
    },
  );

  (caps.managedNetworks && caps.nicChanges ? it : it.skip)(
    'hot-plugs a NIC on a network into the running guest; the network is in use until it is unplugged',
    async () => {
      const { port, vmId, network } = run();
      const nic: NicSpec = { id: randomUUID(), mac: mac(), attachment: { type: 'network', network: network.name } };
      expect(await port.attachNic(vmId, nic)).toEqual({ config: true, live: true });
      expect((await port.getDomain(vmId)).nics.find((candidate) => candidate.id === nic.id)).toMatchObject({
        mac: nic.mac,
        attachment: nic.attachment,
      });
      await expect(port.removeNetwork(network.name)).rejects.toMatchObject({ code: 'NETWORK_IN_USE' });
      expect(await port.detachNic(vmId, nic.id)).toEqual({ config: true, live: true });
      expect((await port.getDomain(vmId)).nics.map((candidate) => candidate.id)).toEqual([vmId]);
    },
    120_000,
  );
}

export function describeNetworkRemoval(run: () => NetworkingRun, caps: NetworkingCapabilities): void {
  (caps.managedNetworks ? it : it.skip)('removes the network, idempotently', async () => {
    const { port, network } = run();
    await port.removeNetwork(network.name);
    await port.removeNetwork(network.name);
    expect((await port.listNetworks()).map((listed) => listed.name)).not.toContain(network.name);
    expect(await port.getDhcpLeases(network.name)).toEqual([]);
  });
}
