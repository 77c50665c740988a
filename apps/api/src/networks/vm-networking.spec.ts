import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { AuthUser } from '../auth/decorators';
import { AppException } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { USER_NETWORK_ID } from '../database/migrations/1764300000000-networks';
import { FakeTransactions } from '../database/testing/fake-transactions';
import { Tx } from '../database/transaction';
import { Network } from './network.entity';
import { PortForward } from './port-forward.entity';
import { networkConfigFor } from './network-definition';
import { FakeNetworkRepository, FakeVmNicRepository, userNetworkRow } from './testing/fake-network-repositories';
import { VmNetworking } from './vm-networking';
import { FakePortForwardRepository } from './testing/fake-port-forward-repository';

const alice: AuthUser = { id: 'alice', username: 'alice', role: 'user' };
const admin: AuthUser = { id: 'root', username: 'admin', role: 'admin' };
const tx = {} as Tx;

function network(fields: Partial<Network>): Network {
  return Object.assign(userNetworkRow(), { public: true, description: '', vlan: null, ...fields });
}

const LAB = network({
  id: '0a1b2c3d-0000-4000-8000-000000000001',
  name: 'lab',
  kind: 'isolated',
  cidr: '10.231.0.0/24',
  gateway: '10.231.0.1',
  dhcpStart: '10.231.0.2',
  dhcpEnd: '10.231.0.254',
  bridge: 'lnbr-0a1b2c3d',
  libvirtName: 'limen-net-0a1b2c3d',
});
const HIDDEN = network({ id: 'hidden-net', name: 'hidden', kind: 'bridge', bridge: 'br0', vlan: 42, public: false });

function world(vmNetwork = 'user') {
  const networks = new FakeNetworkRepository(userNetworkRow(), LAB, HIDDEN);
  const nics = new FakeVmNicRepository();
  const config = { hypervisor: { vmNetwork } } as AppConfig;
  const forwards = new FakePortForwardRepository();
  const networking = new VmNetworking(config, networks.asRepository, nics.asRepository, forwards.asRepository);
  const transactions = new FakeTransactions(nics.rows);
  return { networking, nics, networks, transactions, forwards };
}

async function problem(work: Promise<unknown>): Promise<{ status: number; code: string }> {
  try {
    await work;
  } catch (error) {
    if (error instanceof AppException) return { status: error.getStatus(), code: error.code };
    throw error;
  }
  throw new Error('expected a problem');
}

describe('VmNetworking', () => {
  it('gives a VM created without nics one virtio NIC on the default network, with a locally administered MAC', async () => {
    const { networking, nics } = world();
    const [nic] = await networking.attachAtCreate(tx, alice, 'vm-1', undefined);
    expect(nic).toMatchObject({ vmId: 'vm-1', networkId: USER_NETWORK_ID, model: 'virtio', position: 0 });
    expect(parseInt(nic.mac.slice(0, 2), 16) & 3).toBe(2);
    expect(await nics.ofVm('vm-1')).toHaveLength(1);
  });

  it('takes the default network by the name VM_NETWORK gives, public or not; 400 when there is none', async () => {
    expect((await world('hidden').networking.attachAtCreate(tx, alice, 'vm-1', undefined))[0].networkId).toBe(
      'hidden-net',
    );
    expect(await problem(world('nowhere').networking.attachAtCreate(tx, alice, 'vm-1', undefined))).toEqual({
      status: 400,
      code: 'VALIDATION_FAILED',
    });
  });

  it('writes the asked NICs in order, with given MACs lower-cased and models kept', async () => {
    const { networking } = world();
    const made = await networking.attachAtCreate(tx, alice, 'vm-1', [
      { networkId: LAB.id, mac: '52:54:00:AA:BB:CC', model: 'e1000e' },
      { networkId: USER_NETWORK_ID },
    ]);
    expect(made.map((n) => [n.networkId, n.position, n.model])).toEqual([
      [LAB.id, 0, 'e1000e'],
      [USER_NETWORK_ID, 1, 'virtio'],
    ]);
    expect(made[0].mac).toBe('52:54:00:aa:bb:cc');
  });

  it('a non-public network is 404 to a user, fine for an admin; an unknown one 404 to both', async () => {
    const { networking } = world();
    expect(await problem(networking.attachAtCreate(tx, alice, 'vm-1', [{ networkId: HIDDEN.id }]))).toMatchObject({
      status: 404,
    });
    await expect(networking.attachAtCreate(tx, admin, 'vm-2', [{ networkId: HIDDEN.id }])).resolves.toHaveLength(1);
    expect(await problem(networking.attachAtCreate(tx, admin, 'vm-3', [{ networkId: 'nope' }]))).toMatchObject({
      status: 404,
    });
  });

  it('a MAC in use is 409 MAC_IN_USE, a twice-given one too, an all-zero one 400; nothing stays written', async () => {
    const { networking, nics, transactions } = world();
    await networking.attachAtCreate(tx, alice, 'vm-1', [{ networkId: LAB.id, mac: '52:54:00:00:00:01' }]);
    const attach = (vmId: string, macs: string[]) =>
      transactions.run((t) =>
        networking.attachAtCreate(
          t,
          alice,
          vmId,
          macs.map((mac) => ({ networkId: LAB.id, mac })),
        ),
      );
    expect(await problem(attach('vm-2', ['52:54:00:00:00:01']))).toEqual({ status: 409, code: 'MAC_IN_USE' });
    expect(await problem(attach('vm-2', ['52:54:00:00:00:02', '52:54:00:00:00:02']))).toEqual({
      status: 409,
      code: 'MAC_IN_USE',
    });
    expect(await problem(attach('vm-2', ['00:00:00:00:00:00']))).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
    expect(await nics.ofVm('vm-2')).toEqual([]);
  });

  it('builds the domain NICs by network kind, and defines only the libvirt networks on the host, once each', async () => {
    const { networking, forwards } = world();
    const [user] = await networking.attachAtCreate(tx, admin, 'vm-1', [
      { networkId: USER_NETWORK_ID },
      { networkId: LAB.id },
      { networkId: HIDDEN.id },
      { networkId: LAB.id },
    ]);
    const forward = { vmId: 'vm-1', nicId: user.id, protocol: 'tcp', guestPort: 22, hostAddress: '127.0.0.1' };
    await forwards.insertIfFree(tx, Object.assign(new PortForward(), forward, { hostPort: 20022 }));
    const specs = await networking.nicSpecsFor('vm-1');
    expect(specs.map((s) => s.attachment)).toEqual([
      { type: 'user', portForwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 20022, guestPort: 22 }] },
      { type: 'network', network: 'limen-net-0a1b2c3d' },
      { type: 'bridge', bridge: 'br0', vlan: 42 },
      { type: 'network', network: 'limen-net-0a1b2c3d' },
    ]);
    const port = new FakeVirtualizationPort();
    await networking.ensureNetworksOnHost(port, 'vm-1');
    expect(await port.listNetworks()).toEqual([
      expect.objectContaining({ name: 'limen-net-0a1b2c3d', cidr: '10.231.0.0/24', active: true }),
    ]);
  });

  it('writes a network-config v2 matching every NIC by MAC, with DHCPv4', () => {
    expect(JSON.parse(networkConfigFor([{ mac: '02:00:00:00:00:01' }, { mac: '02:00:00:00:00:02' }]))).toEqual({
      version: 2,
      ethernets: {
        nic0: { match: { macaddress: '02:00:00:00:00:01' }, 'set-name': 'eth0', dhcp4: true },
        nic1: { match: { macaddress: '02:00:00:00:00:02' }, 'set-name': 'eth1', dhcp4: true },
      },
    });
  });
});
