import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { firstValueFrom, filter, timeout } from 'rxjs';
import { createVirtualizationPort, VirtualizationPort } from '../src';
import { ensureTestGuest, GUEST_MARKER, makeDisk, makeRunDir, waitFor } from './guest-fixture';
import { describePortContract } from './port-contract';
import { realHarness } from './real-contract-harness';

describePortContract('qemu-direct', {
  ...realHarness('qemu-direct', (runDir) =>
    createVirtualizationPort({ adapter: 'qemu-direct', stateDir: join(runDir, 'state'), virtType: 'qemu' }),
  ),
  // No libvirt networks (nat/isolated) here; user-mode NICs hot-plug (netdev_add).
  networking: { managedNetworks: false, nicChanges: true, guestAgent: true, userNicHotPlug: true },
});

describe('qemu-direct re-attachment', () => {
  const vmId = randomUUID();
  const run = makeRunDir('qd-reattach');
  const stateDir = join(run.dir, 'state');
  const ports: VirtualizationPort[] = [];
  const open = (): VirtualizationPort => {
    const port = createVirtualizationPort({ adapter: 'qemu-direct', stateDir, virtType: 'qemu' });
    ports.push(port);
    return port;
  };

  afterAll(async () => {
    const port = open();
    await port.destroy(vmId).catch(() => undefined);
    await port.undefineDomain(vmId, { removeVolumes: true }).catch(() => undefined);
    for (const p of ports) await p.close();
    run.cleanup();
  });

  it('keeps the guest running across an adapter restart and re-attaches to it', async () => {
    const guest = ensureTestGuest();
    const first = open();
    makeDisk(join(run.dir, 'disk.qcow2'), '16M');
    await first.defineDomain({
      vmId,
      ownerId: 'owner-1',
      vcpus: 1,
      memoryMiB: 256,
      virtType: 'qemu',
      disks: [{ path: join(run.dir, 'disk.qcow2') }],
      nics: [],
      serialLogPath: join(run.dir, 'serial.log'),
      kernel: { kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, cmdline: guest.cmdline },
    });
    await first.start(vmId);
    await waitFor('marker', async () => (await first.tailSerialLog(vmId)).includes(GUEST_MARKER), 60_000);
    // The api process goes away; QEMU is daemonized and must survive it.
    await first.close();

    const second = open();
    const resync = firstValueFrom(
      second.events().pipe(
        filter((e) => e.kind === 'resync-needed'),
        timeout(10_000),
      ),
    );
    expect((await second.getDomain(vmId)).state).toBe('running');
    await resync;
    const stopped = firstValueFrom(
      second.events().pipe(
        filter((e) => e.kind === 'lifecycle' && e.vmId === vmId && e.type === 'stopped'),
        timeout(10_000),
      ),
    );
    await second.destroy(vmId);
    await stopped;
    expect((await second.getDomain(vmId)).state).toBe('shutoff');
  });
});
