import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { firstValueFrom, filter, Subscription, timeout } from 'rxjs';
import { DomainEvent, LibvirtAdapter } from '../src';
import { createVirtualizationPort } from '../src/port/create-virtualization-port';
import { ensureTestGuest, GUEST_MARKER, makeDisk, makeRunDir, waitFor } from './guest-fixture';

const execFileAsync = promisify(execFile);

describe('libvirt adapter: events and QMP passthrough', () => {
  const vmId = randomUUID();
  const domain = `limen-${vmId}`;
  const run = makeRunDir('libvirt-events');
  const adapter = createVirtualizationPort({ adapter: 'libvirt', virtType: 'qemu' }) as LibvirtAdapter;
  const events: Array<DomainEvent & { receivedAt: number }> = [];
  let subscription: Subscription;

  beforeAll(async () => {
    const guest = ensureTestGuest();
    subscription = adapter.events().subscribe((event) => events.push({ ...event, receivedAt: Date.now() }));
    makeDisk(join(run.dir, 'disk.qcow2'), '16M');
    await adapter.defineDomain({
      vmId,
      ownerId: 'owner-events',
      vcpus: 1,
      memoryMiB: 256,
      virtType: 'qemu',
      disks: [{ path: join(run.dir, 'disk.qcow2') }],
      nics: [],
      serialLogPath: join(run.dir, 'serial.log'),
      kernel: { kernelPath: guest.kernelPath, initrdPath: guest.initrdPath, cmdline: guest.cmdline },
    });
    await adapter.start(vmId);
    await waitFor('marker', async () => (await adapter.tailSerialLog(vmId)).includes(GUEST_MARKER), 60_000);
  });

  afterAll(async () => {
    await adapter.destroy(vmId).catch(() => undefined);
    await adapter.undefineDomain(vmId, { removeVolumes: true }).catch(() => undefined);
    subscription?.unsubscribe();
    await adapter.close();
    run.cleanup();
  });

  it('emitted a typed started event for the start', () => {
    expect(events).toContainEqual(
      expect.objectContaining({ kind: 'lifecycle', type: 'started', vmId, domainName: domain }),
    );
  });

  it('answers QMP through virsh qemu-monitor-command', async () => {
    expect(await adapter.qmp.execute<{ status: string }>(vmId, 'query-status')).toMatchObject({ status: 'running' });
    expect(await adapter.qmp.humanMonitor(vmId, 'info status')).toContain('running');
  });

  it('delivers an out-of-band virsh destroy as a typed event within 1 s', async () => {
    const stopped = firstValueFrom(
      adapter.events().pipe(
        filter((e) => e.kind === 'lifecycle' && e.vmId === vmId && e.type === 'stopped'),
        timeout(5_000),
      ),
    );
    // Out of band: a separate virsh process, as an operator would run it. Asynchronous, so
    // this process keeps reading events while virsh waits for QEMU to die.
    const sentAt = Date.now();
    await execFileAsync('virsh', ['-q', '-c', 'qemu:///system', 'destroy', domain]);
    const destroyedAt = Date.now();
    const event = await stopped;
    const receivedAt = Date.now();
    // Delivery latency: libvirt's own event timestamp to our typed event; and, independently of
    // any clock, how long after `virsh destroy` returned the event was still missing.
    const deliveryMs = receivedAt - event.timestamp.getTime();
    const afterDestroyMs = Math.max(0, receivedAt - destroyedAt);
    process.stdout.write(
      `[libvirt] out-of-band destroy: virsh destroy took ${destroyedAt - sentAt} ms, event delivered ${deliveryMs} ms after libvirt emitted it, ${afterDestroyMs} ms after destroy returned\n`,
    );
    expect(event).toMatchObject({ kind: 'lifecycle', type: 'stopped', detail: 'destroyed', domainName: domain, vmId });
    const latency = Math.max(deliveryMs, afterDestroyMs);
    expect(latency).toBeLessThan(1_000);
  });

  it('restarts a killed event process and signals resync-needed, then keeps delivering', async () => {
    const oldPid = adapter.eventSource.pid as number;
    expect(oldPid).toBeGreaterThan(0);
    const resync = firstValueFrom(
      adapter.events().pipe(
        filter((e) => e.kind === 'resync-needed'),
        timeout(10_000),
      ),
    );
    process.kill(oldPid, 'SIGKILL');
    await resync;
    expect(adapter.eventSource.pid).not.toBe(oldPid);

    const started = firstValueFrom(
      adapter.events().pipe(
        filter((e) => e.kind === 'lifecycle' && e.vmId === vmId && e.type === 'started'),
        timeout(10_000),
      ),
    );
    await adapter.start(vmId);
    await started;
  });
});
