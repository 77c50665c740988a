import { Subject } from 'rxjs';
import { NicSpec } from '../../models';
import { QmpClient } from '../../qmp/qmp-client';
import { addLiveForward, plugNic, removeLiveForward, unplugNic } from './nic-hotplug';

const FORWARD = { protocol: 'tcp' as const, hostAddress: '127.0.0.1', hostPort: 20022, guestPort: 22 };
const nic = (id: string): NicSpec => ({ id, mac: '52:54:00:00:00:01', attachment: { type: 'user' } });

/** A QMP stand-in: HMP answers from `netdevs` (the ids QEMU knows), QMP commands recorded. */
function fakeQmp(netdevs: string[], replies: Record<string, unknown> = {}) {
  const calls: Array<[string, unknown]> = [];
  const qmp = {
    humanMonitor: async (line: string) => {
      calls.push(['hmp', line]);
      const netdev = line.split(' ')[1];
      return netdevs.includes(netdev) ? '' : `unrecognized netdev id '${netdev}'\r\n`;
    },
    execute: async (command: string, args?: unknown) => {
      calls.push([command, args]);
      const reply = replies[command];
      if (reply instanceof Error) throw reply;
      return reply;
    },
  } as unknown as QmpClient;
  return { qmp, calls };
}

describe('nic-hotplug', () => {
  it('forwards on the NIC netdev, and on net0 for the VM-id NIC of a QEMU started before NICs had ids', async () => {
    const current = fakeQmp(['limen-user-vm-1']);
    await addLiveForward(current.qmp, nic('vm-1'), FORWARD, 'vm-1');
    expect(current.calls).toEqual([['hmp', 'hostfwd_add limen-user-vm-1 tcp:127.0.0.1:20022-:22']]);

    const legacy = fakeQmp(['net0']);
    await addLiveForward(legacy.qmp, nic('vm-1'), FORWARD, 'vm-1');
    await removeLiveForward(legacy.qmp, nic('vm-1'), FORWARD, 'vm-1');
    expect(legacy.calls.map(([, line]) => line)).toEqual([
      'hostfwd_add limen-user-vm-1 tcp:127.0.0.1:20022-:22',
      'hostfwd_add net0 tcp:127.0.0.1:20022-:22',
      'hostfwd_remove limen-user-vm-1 tcp:127.0.0.1:20022',
      'hostfwd_remove net0 tcp:127.0.0.1:20022',
    ]);
    // Only the VM-id NIC has a legacy name.
    await expect(addLiveForward(legacy.qmp, nic('nic-2'), FORWARD, 'vm-1')).rejects.toMatchObject({
      code: 'OPERATION_FAILED',
    });
  });

  it('plugs a NIC into a free root port on q35 and takes its backend away again when the device fails', async () => {
    const pci = [
      {
        devices: [
          { qdev_id: 'limen-nicport0', pci_bridge: { devices: [{}] } },
          { qdev_id: 'limen-nicport1', pci_bridge: { devices: [] } },
        ],
      },
    ];
    const ok = fakeQmp([], { 'query-pci': pci });
    await plugNic(ok.qmp, nic('n'), { vmId: 'vm-1', machine: 'q35', bridgeMode: 'tap' });
    expect(ok.calls.slice(1)).toEqual([
      ['netdev_add', { type: 'user', id: 'limen-user-n', restrict: true, hostfwd: [] }],
      [
        'device_add',
        {
          driver: 'virtio-net-pci',
          netdev: 'limen-user-n',
          mac: '52:54:00:00:00:01',
          id: 'ua-nic-n',
          bus: 'limen-nicport1',
        },
      ],
    ]);
    const failing = fakeQmp([], { 'query-pci': pci, device_add: new Error('no') });
    await expect(plugNic(failing.qmp, nic('n'), { vmId: 'vm-1', machine: 'q35', bridgeMode: 'tap' })).rejects.toThrow(
      'no',
    );
    expect(failing.calls.at(-1)).toEqual(['netdev_del', { id: 'limen-user-n' }]);
    const full = fakeQmp([], {
      'query-pci': [{ devices: [{ qdev_id: 'limen-nicport0', pci_bridge: { devices: [{}] } }] }],
    });
    await expect(
      plugNic(full.qmp, nic('n'), { vmId: 'vm-1', machine: 'q35', bridgeMode: 'tap' }),
    ).rejects.toMatchObject({
      code: 'INVALID_STATE',
    });
  });

  it('unplugs: waits for DEVICE_DELETED, then removes the backend; false when the guest does not let go', async () => {
    const events = new Subject<{ event: string; data?: Record<string, unknown> }>();
    const released = fakeQmp([]);
    const done = unplugNic(released.qmp, events, nic('n'), 5_000);
    await new Promise((resolve) => setImmediate(resolve));
    events.next({ event: 'DEVICE_DELETED', data: { device: 'ua-nic-n' } });
    expect(await done).toBe(true);
    expect(released.calls).toEqual([
      ['device_del', { id: 'ua-nic-n' }],
      ['netdev_del', { id: 'limen-user-n' }],
    ]);
    const stuck = fakeQmp([]);
    expect(await unplugNic(stuck.qmp, new Subject(), nic('n'), 50)).toBe(false);
    expect(stuck.calls).toEqual([['device_del', { id: 'ua-nic-n' }]]);
  });
});
