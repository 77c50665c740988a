import { FakeVirtualizationPort } from '@limen/libvirt/testing';
import { AgentClient } from '../agent-proxy/agent-client';
import { AppException } from '../common/problem';
import { AppConfig } from '../config/app-config';
import { Tx } from '../database/transaction';
import { FakeVmRepository, vmRow } from '../vms/testing/fake-vm-repository';
import { HostAgents } from './host-agents';
import { HostPlacement } from './host-placement';
import { HostSecrets } from './host-secrets';
import { HostStorage } from './host-storage';
import { FakeHostPorts, FakeHostRepository, hostRow } from './testing/fake-hosts';

const GIB = 1024 ** 3;
const TX = {} as Tx;

const CONFIG = {
  jwtSecret: 'unit-test-secret-unit-test-secret',
  cpuOvercommitPercent: 400,
  memoryOvercommitPercent: 100,
  diskOvercommitPercent: 100,
  hostName: 'a',
  hypervisor: {
    vmDir: '/var/lib/limen/vms',
    vmPool: 'limen-vms',
    imagePool: 'limen-images',
    storageRoots: ['/var/lib/limen'],
  },
} as AppConfig;

/** The hosts table, the VMs on them and each host's hypervisor, as placement reads them. */
class FakeFleet {
  readonly hosts = new FakeHostRepository();
  readonly vms = new FakeVmRepository();
  readonly ports = new FakeHostPorts(this.hosts, () => new FakeVirtualizationPort());
  readonly agents = new HostAgents({} as AgentClient, new HostSecrets(CONFIG));

  add(...hosts: ReturnType<typeof hostRow>[]): void {
    for (const host of hosts) this.hosts.rows.set(host.id, host);
  }

  /** A VM holding `vcpus` and `memoryMiB` on `hostId`. */
  hold(hostId: string, vcpus: number, memoryMiB: number): void {
    const vm = vmRow({ hostId, vcpus, memoryMiB });
    this.vms.rows.set(vm.id, vm);
  }

  placement(config: AppConfig = CONFIG): HostPlacement {
    return new HostPlacement(
      config,
      this.hosts.asRepository,
      this.vms.asRepository,
      new HostStorage(config, this.ports.asPorts),
      this.agents,
    );
  }
}

async function refusal(work: Promise<unknown>): Promise<{ status: number; code: string; detail: string }> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppException);
  const problem = error as AppException;
  return { status: problem.getStatus(), code: String(problem.code), detail: problem.detail };
}

describe('HostPlacement', () => {
  let fleet: FakeFleet;
  let placement: HostPlacement;

  beforeEach(() => {
    fleet = new FakeFleet();
    placement = fleet.placement();
  });

  describe('place', () => {
    it('chooses the host with the most free memory among those with room, with the hosts locked', async () => {
      fleet.add(
        hostRow('a', { memoryMiB: 4096 }),
        hostRow('b', { memoryMiB: 8192 }),
        hostRow('c', { memoryMiB: 16384 }),
      );
      fleet.hold('id-c', 2, 14336);
      expect(await placement.place(TX, { vcpus: 1, memoryMiB: 1024 })).toBe('id-b');
      expect(fleet.hosts.locks).toBe(1);
    });

    it('counts vCPUs with the overcommit ratio, minus what the VMs hold', async () => {
      fleet.add(hostRow('a', { cpus: 1 }), hostRow('b', { cpus: 1, memoryMiB: 1024 }));
      fleet.hold('id-a', 3, 0);
      // a: 1 CPU × 400 % = 4 vCPUs, 3 held; b has less memory but the vCPUs.
      expect(await placement.place(TX, { vcpus: 2, memoryMiB: 512 })).toBe('id-b');
    });

    it("charges a running VM what it booted with when that is more than its definition's sizes", async () => {
      fleet.add(hostRow('a', { memoryMiB: 2048 }));
      const vm = vmRow({ hostId: 'id-a', vcpus: 1, memoryMiB: 512, runningVcpus: 1, runningMemoryMiB: 1536 });
      fleet.vms.rows.set(vm.id, vm);
      expect((await refusal(placement.place(TX, { vcpus: 1, memoryMiB: 1024 }))).code).toBe('INSUFFICIENT_CAPACITY');
      expect(await placement.place(TX, { vcpus: 1, memoryMiB: 512 })).toBe('id-a');
    });

    it('skips hosts that are down, disabled or in maintenance', async () => {
      fleet.add(
        hostRow('down', { status: 'down', memoryMiB: 65536 }),
        hostRow('disabled', { enabled: false, memoryMiB: 65536 }),
        hostRow('maintenance', { maintenance: true, memoryMiB: 65536 }),
        hostRow('small', { memoryMiB: 2048 }),
      );
      expect(await placement.place(TX, { vcpus: 1, memoryMiB: 1024 })).toBe('id-small');
    });

    it('refuses 409 INSUFFICIENT_CAPACITY when no host has room', async () => {
      fleet.add(hostRow('a', { memoryMiB: 2048 }), hostRow('b', { status: 'unknown' }));
      fleet.hold('id-a', 1, 1536);
      expect(await refusal(placement.place(TX, { vcpus: 1, memoryMiB: 1024 }))).toEqual({
        status: 409,
        code: 'INSUFFICIENT_CAPACITY',
        detail: 'No enabled host has room for this VM',
      });
    });

    it("never places more memory than the host's agent last reported available", async () => {
      fleet.add(hostRow('a', { memoryMiB: 8192 }));
      fleet.agents.noteAvailableMiB('id-a', 1000);
      expect((await refusal(placement.place(TX, { vcpus: 1, memoryMiB: 1024 }))).code).toBe('INSUFFICIENT_CAPACITY');
      fleet.agents.noteAvailableMiB('id-a', undefined); // the agent stopped answering: allocations alone decide
      expect(await placement.place(TX, { vcpus: 1, memoryMiB: 1024 })).toBe('id-a');
    });

    it('takes the host an admin names, even in maintenance, when it is up, enabled and has room', async () => {
      fleet.add(hostRow('big', { memoryMiB: 65536 }), hostRow('chosen', { maintenance: true }));
      expect(await placement.place(TX, { vcpus: 1, memoryMiB: 1024 }, 'id-chosen')).toBe('id-chosen');
    });

    it('refuses an admin-chosen host that is down, disabled or full, and one that does not exist', async () => {
      fleet.add(hostRow('down', { status: 'down' }), hostRow('off', { enabled: false }), hostRow('full'));
      fleet.hold('id-full', 1, 8192);
      const request = { vcpus: 1, memoryMiB: 1024 };
      expect(await refusal(placement.place(TX, request, 'id-down'))).toEqual({
        status: 409,
        code: 'INSUFFICIENT_CAPACITY',
        detail: 'Host down is down or lacks room for this VM',
      });
      expect((await refusal(placement.place(TX, request, 'id-off'))).detail).toBe(
        'Host off is disabled or lacks room for this VM',
      );
      expect((await refusal(placement.place(TX, request, 'id-full'))).detail).toBe(
        'Host full is up or lacks room for this VM',
      );
      expect(await refusal(placement.place(TX, request, 'id-nowhere'))).toEqual({
        status: 400,
        code: 'VALIDATION_FAILED',
        detail: 'hostId does not name a registered host',
      });
    });
  });

  describe('place, counting disk space', () => {
    /** The host monitor's last reading of the host's pools: its VM pool with `availableGiB` left. */
    const storage = (availableGiB: number) => ({
      pools: [
        {
          name: 'limen-vms',
          type: 'dir',
          path: '/var/lib/limen/vms',
          active: true,
          autostart: true,
          capacityBytes: 100 * GIB,
          allocationBytes: (100 - availableGiB) * GIB,
          availableBytes: availableGiB * GIB,
        },
        // Another pool's room is not the VM pool's.
        {
          name: 'limen-images',
          type: 'dir',
          path: '/i',
          active: true,
          autostart: true,
          capacityBytes: 0,
          allocationBytes: 0,
          availableBytes: 500 * GIB,
        },
      ],
      checkedAt: new Date().toISOString(),
      problem: null,
    });

    it('skips a host whose VM pool is full, even with the most free memory', async () => {
      fleet.add(
        hostRow('full', { memoryMiB: 65536, storage: storage(1) }),
        hostRow('roomy', { memoryMiB: 4096, storage: storage(50) }),
      );
      expect(await placement.place(TX, { vcpus: 1, memoryMiB: 1024, diskBytes: 10 * GIB })).toBe('id-roomy');
      // Not asked for disk room: memory decides.
      expect(await placement.place(TX, { vcpus: 1, memoryMiB: 1024 })).toBe('id-full');
    });

    it('counts the overcommit ratio, and a host whose pool was never read as having room', async () => {
      placement = fleet.placement({ ...CONFIG, diskOvercommitPercent: 300 } as AppConfig);
      fleet.add(hostRow('thin', { memoryMiB: 65536, storage: storage(4) }), hostRow('unread', { memoryMiB: 1024 }));
      expect(await placement.place(TX, { vcpus: 1, memoryMiB: 512, diskBytes: 12 * GIB })).toBe('id-thin');
      expect(await placement.place(TX, { vcpus: 1, memoryMiB: 512, diskBytes: 12 * GIB + 1 })).toBe('id-unread');
    });

    it('refuses 507 when hosts have CPUs and memory but no pool has room, 409 when none has memory', async () => {
      fleet.add(hostRow('a', { storage: storage(5) }), hostRow('b', { storage: storage(2) }));
      expect(await refusal(placement.place(TX, { vcpus: 1, memoryMiB: 1024, diskBytes: 6 * GIB }))).toEqual({
        status: 507,
        code: 'INSUFFICIENT_STORAGE',
        detail: 'No enabled host has room for a disk of 6 GiB',
      });
      expect(await refusal(placement.place(TX, { vcpus: 1, memoryMiB: 1024, diskBytes: 6 * GIB }, 'id-a'))).toEqual({
        status: 507,
        code: 'INSUFFICIENT_STORAGE',
        detail: 'Host a has no room for a disk of 6 GiB',
      });
      expect((await refusal(placement.place(TX, { vcpus: 1, memoryMiB: 65536, diskBytes: GIB }))).code).toBe(
        'INSUFFICIENT_CAPACITY',
      );
    });
  });

  describe('assertRoomToGrow', () => {
    it("checks only the resources that grow, on the VM's own host", async () => {
      fleet.add(hostRow('a', { cpus: 1, memoryMiB: 2048 }));
      fleet.hold('id-a', 4, 1024);
      await placement.assertRoomToGrow(TX, 'id-a', { vcpus: 0, memoryMiB: 1024 });
      await placement.assertRoomToGrow(TX, 'id-a', { vcpus: -2, memoryMiB: -512 });
      expect((await refusal(placement.assertRoomToGrow(TX, 'id-a', { vcpus: 1, memoryMiB: 0 }))).detail).toBe(
        "Host a is up or lacks room for this VM's new size",
      );
      expect((await refusal(placement.assertRoomToGrow(TX, 'id-a', { vcpus: 0, memoryMiB: 1025 }))).code).toBe(
        'INSUFFICIENT_CAPACITY',
      );
    });

    it('refuses growth on a host that is down, and for a VM without a host', async () => {
      fleet.add(hostRow('a', { status: 'down' }));
      expect((await refusal(placement.assertRoomToGrow(TX, 'id-a', { vcpus: 1, memoryMiB: 0 }))).detail).toBe(
        "Host a is down or lacks room for this VM's new size",
      );
      expect((await refusal(placement.assertRoomToGrow(TX, null, { vcpus: 1, memoryMiB: 0 }))).detail).toBe(
        'The VM has no host to grow on',
      );
    });
  });

  describe('assertStorageRoom', () => {
    it("accepts a disk that fits what the host's VM pool has available, and refuses 507 one that does not", async () => {
      fleet.add(hostRow('a'));
      fleet.ports.forHost('id-a').storage.capacityBytes = 10 * GIB;
      await placement.assertStorageRoom('id-a', 10 * GIB);
      expect(await refusal(placement.assertStorageRoom('id-a', 10 * GIB + 1))).toEqual({
        status: 507,
        code: 'INSUFFICIENT_STORAGE',
        detail: 'The host has no room for a disk of 11 GiB',
      });
      // The pool over VM_DIR is defined once, then read as the host reports it now.
      const calls = fleet.ports.forHost('id-a').calls.map((call) => call.method);
      expect(calls.filter((method) => method === 'ensureStoragePool')).toHaveLength(1);
      expect(calls.filter((method) => method === 'listStoragePools')).toHaveLength(2);
      expect(await fleet.ports.forHost('id-a').listStoragePools()).toEqual([
        expect.objectContaining({ name: 'limen-vms', path: '/var/lib/limen/vms' }),
      ]);
    });

    it('counts the pool of a remote host at its storage path, defined there again when it went missing', async () => {
      fleet.add(hostRow('far', { libvirtUri: 'qemu+tcp://192.0.2.10/system', storagePath: '/srv/limen' }));
      const far = fleet.ports.forHost('id-far');
      far.storage.capacityBytes = 2 * GIB;
      await placement.assertStorageRoom('id-far', 2 * GIB);
      expect((await far.listStoragePools()).map((pool) => pool.path)).toEqual(['/srv/limen']);
      // The same fake host again, without its pool (libvirtd lost its definitions).
      fleet.ports.ports.set('id-far', new FakeVirtualizationPort());
      fleet.ports.forHost('id-far').storage.capacityBytes = GIB;
      expect((await refusal(placement.assertStorageRoom('id-far', 2 * GIB))).code).toBe('INSUFFICIENT_STORAGE');
      expect((await fleet.ports.forHost('id-far').listStoragePools()).map((pool) => pool.path)).toEqual(['/srv/limen']);
    });

    it('lets DISK_OVERCOMMIT_PERCENT overcommit thin storage', async () => {
      placement = fleet.placement({ ...CONFIG, diskOvercommitPercent: 300 } as AppConfig);
      fleet.add(hostRow('a'));
      fleet.ports.forHost('id-a').storage.capacityBytes = 1 * GIB;
      await placement.assertStorageRoom('id-a', 3 * GIB);
      expect((await refusal(placement.assertStorageRoom('id-a', 3 * GIB + 1))).code).toBe('INSUFFICIENT_STORAGE');
    });
  });
});
