import { Observable } from 'rxjs';
import { HypervisorError } from '../../errors/hypervisor-error';
import { MachineType, NicSpec, PortForwardSpec } from '../../models';
import { nicAlias } from '../../naming/network-name';
import { MAX_NICS } from '../../networks/network-validation';
import { QmpClient } from '../../qmp/qmp-client';
import { deviceDeleted } from './device-deleted';
import { BridgeMode, hostfwdKey, hostfwdRule, netdevAddArgs, netdevIdOf, nicDeviceProps, nicPortId } from './nic-argv';

interface PciDevice {
  qdev_id?: string;
  pci_bridge?: { devices?: unknown[] };
}

/** The first NIC root port with nothing behind it (q35). */
async function freeNicPort(qmp: QmpClient): Promise<string> {
  const buses = await qmp.execute<Array<{ devices: PciDevice[] }>>('query-pci');
  const used = new Set(
    buses
      .flatMap((bus) => bus.devices)
      .filter((device) => (device.pci_bridge?.devices ?? []).length > 0)
      .map((device) => device.qdev_id),
  );
  const ports = Array.from({ length: MAX_NICS }, (_, index) => nicPortId(index));
  const present = new Set(buses.flatMap((bus) => bus.devices).map((device) => device.qdev_id));
  const free = ports.find((port) => present.has(port) && !used.has(port));
  if (!free)
    throw new HypervisorError('INVALID_STATE', 'no free PCI Express port for another NIC until the domain restarts');
  return free;
}

export interface PlugOptions {
  vmId: string;
  machine: MachineType;
  bridgeMode: BridgeMode;
  /** Between the backend and the device: joins a tap to its bridge (tap mode). */
  afterNetdev?: () => Promise<void>;
}

/** Hot-plugs a NIC: its backend (netdev_add), then the device; the backend goes again if the device fails. */
export async function plugNic(qmp: QmpClient, nic: NicSpec, options: PlugOptions): Promise<void> {
  const bus = options.machine === 'q35' ? await freeNicPort(qmp) : undefined;
  await qmp.execute('netdev_add', netdevAddArgs(options.vmId, nic, options.bridgeMode));
  try {
    await options.afterNetdev?.();
    await qmp.execute('device_add', nicDeviceProps(nic, bus ? { bus } : {}));
  } catch (error) {
    await qmp.execute('netdev_del', { id: netdevIdOf(nic) }).catch(() => undefined);
    throw error;
  }
}

/**
 * Asks the guest to release a NIC (device_del) and waits for QEMU's DEVICE_DELETED, then removes
 * its backend. False when the guest did not let go within `timeoutMs`: QEMU completes the removal
 * whenever the guest does (the adapter then removes the backend), or at the latest at the next start.
 */
export async function unplugNic(
  qmp: QmpClient,
  events$: Observable<{ event: string; data?: Record<string, unknown> }>,
  nic: NicSpec,
  timeoutMs: number,
): Promise<boolean> {
  const alias = nicAlias(nic.id);
  const deleted = deviceDeleted(events$, alias, timeoutMs);
  try {
    await qmp.execute('device_del', { id: alias });
  } catch (error) {
    // Already gone from the guest (an earlier unplug completed): only the backend may be left.
    if (!/not found/i.test((error as Error).message)) throw error;
    await removeNetdev(qmp, nic);
    return true;
  }
  if (!(await deleted)) return false;
  await removeNetdev(qmp, nic);
  return true;
}

export async function removeNetdev(qmp: QmpClient, nic: NicSpec): Promise<void> {
  await qmp.execute('netdev_del', { id: netdevIdOf(nic) }).catch((error: Error) => {
    if (!/not found/i.test(error.message)) throw error;
  });
}

/**
 * The netdev id of QEMUs started before NICs had ids: their single NIC (the one whose id is the
 * VM id now) is `net0` until the domain restarts.
 */
export const LEGACY_NETDEV_ID = 'net0';

/** An HMP command on a NIC's netdev, or on the legacy `net0` where QEMU does not know the new id. */
async function hmpOnNetdev(qmp: QmpClient, nic: NicSpec, vmId: string, command: (netdev: string) => string) {
  const output = (await qmp.humanMonitor(command(netdevIdOf(nic)))).trim();
  if (nic.id !== vmId || !/unrecognized netdev id/i.test(output)) return output;
  return (await qmp.humanMonitor(command(LEGACY_NETDEV_ID))).trim();
}

/** hostfwd_add on a running user-mode NIC; HMP answers failures as text. */
export async function addLiveForward(qmp: QmpClient, nic: NicSpec, forward: PortForwardSpec, vmId: string) {
  const output = await hmpOnNetdev(qmp, nic, vmId, (netdev) => `hostfwd_add ${netdev} ${hostfwdRule(forward)}`);
  if (output)
    throw new HypervisorError(
      'OPERATION_FAILED',
      `cannot forward ${forward.protocol} ${forward.hostAddress}:${forward.hostPort} (host port in use?): ${output}`,
      output,
    );
}

/** hostfwd_remove; a rule that is not there is no error. */
export async function removeLiveForward(qmp: QmpClient, nic: NicSpec, forward: PortForwardSpec, vmId: string) {
  const output = await hmpOnNetdev(qmp, nic, vmId, (netdev) => `hostfwd_remove ${netdev} ${hostfwdKey(forward)}`);
  if (output && !/removed|not found/i.test(output))
    throw new HypervisorError('OPERATION_FAILED', `cannot remove forward ${hostfwdKey(forward)}: ${output}`, output);
}
