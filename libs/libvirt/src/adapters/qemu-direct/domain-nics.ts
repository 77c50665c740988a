import { readFile } from 'node:fs/promises';
import { Observable } from 'rxjs';
import { HypervisorError } from '../../errors/hypervisor-error';
import { InterfaceAddress, NicSpec, PortForwardSpec, SetResourceResult } from '../../models';
import { domainNameFor } from '../../naming/domain-name';
import { assertNicId } from '../../naming/network-name';
import { MAX_NICS, nicsOf, validateNic, validatePortForward } from '../../networks/network-validation';
import { QmpClient, QmpEvent } from '../../qmp/qmp-client';
import { BridgeAccess } from './bridge-access';
import { DomainStore, StoredDomain } from './domain-store';
import { assertNicsSupported } from './nic-argv';
import { addLiveForward, plugNic, removeLiveForward, unplugNic } from './nic-hotplug';

/** What DomainNics needs of the adapter: its store, and the QMP connection of a running domain. */
export interface NicHost {
  readonly store: DomainStore;
  readonly bridges: BridgeAccess;
  requireDomain(vmId: string): Promise<StoredDomain>;
  /** The running QEMU's QMP connection, undefined when the domain is stopped. */
  monitor(vmId: string): Promise<{ qmp: QmpClient; events$: Observable<QmpEvent> } | undefined>;
  /** How long a guest gets to release an unplugged NIC. */
  unplugTimeoutMs: number;
}

function invalid(message: string): never {
  throw new HypervisorError('INVALID_ARGUMENT', message);
}

function sameForward(a: PortForwardSpec, b: PortForwardSpec): boolean {
  return a.protocol === b.protocol && a.hostAddress === b.hostAddress && a.hostPort === b.hostPort;
}

/**
 * qemu-direct's NICs and port forwards after definition: the stored definition always, and the
 * running QEMU through QMP (netdev_add/device_add, device_del/netdev_del, hostfwd_add/remove).
 * User-mode and bridge NICs both hot-plug; the definition changes only once the live change worked.
 */
export class DomainNics {
  constructor(private readonly host: NicHost) {}

  async attach(vmId: string, nic: NicSpec): Promise<SetResourceResult> {
    validateNic(nic);
    assertNicsSupported([nic]);
    const stored = await this.host.requireDomain(vmId);
    const added: NicSpec = { ...structuredClone(nic), mac: nic.mac.toLowerCase() };
    const nics = nicsOf(stored.spec);
    if (nics.some((other) => other.id === added.id || other.mac === added.mac))
      invalid(`domain ${domainNameFor(vmId)} already has a NIC with id ${added.id} or MAC ${added.mac}`);
    if (nics.length >= MAX_NICS) invalid(`at most ${MAX_NICS} NICs`);
    const bridgeMode = await this.host.bridges.modeFor([added]);
    const monitor = await this.host.monitor(vmId);
    if (monitor) {
      await this.host.bridges.assertBridgesExist([added]);
      await plugNic(monitor.qmp, added, {
        vmId,
        machine: stored.spec.machine ?? 'q35',
        bridgeMode,
        ...(bridgeMode === 'tap' ? { afterNetdev: () => this.host.bridges.plugTaps(vmId, [added]) } : {}),
      });
    }
    await this.write(stored, [...nics, added]);
    return { config: true, live: monitor !== undefined };
  }

  /**
   * Idempotent (a NIC that is not there is no error). `live` is false when the guest did not
   * release the NIC in time: QEMU removes it whenever the guest does, and the definition no longer has it.
   */
  async detach(vmId: string, nicId: string): Promise<SetResourceResult> {
    assertNicId(nicId);
    const stored = await this.host.requireDomain(vmId);
    const nics = nicsOf(stored.spec);
    const nic = nics.find((candidate) => candidate.id === nicId);
    const monitor = await this.host.monitor(vmId);
    let live = monitor !== undefined;
    if (nic && monitor) live = await unplugNic(monitor.qmp, monitor.events$, nic, this.host.unplugTimeoutMs);
    if (nic)
      await this.write(
        stored,
        nics.filter((other) => other.id !== nicId),
      );
    return { config: true, live };
  }

  async addForward(vmId: string, nicId: string, forward: PortForwardSpec): Promise<SetResourceResult> {
    validatePortForward(forward);
    return this.changeForwards(vmId, nicId, forward, async (forwards, live) => {
      const clash = forwards.find((other) => sameForward(other, forward));
      if (clash && clash.guestPort !== forward.guestPort)
        invalid(`host port ${forward.protocol}/${forward.hostPort} already forwards to ${clash.guestPort}`);
      if (clash) return forwards;
      await live?.(addLiveForward);
      return [...forwards, { ...forward }];
    });
  }

  /** A forward that is not there is no error. */
  async removeForward(vmId: string, nicId: string, forward: PortForwardSpec): Promise<SetResourceResult> {
    validatePortForward(forward);
    return this.changeForwards(vmId, nicId, forward, async (forwards, live) => {
      await live?.(removeLiveForward);
      return forwards.filter((other) => !sameForward(other, forward));
    });
  }

  /**
   * Addresses of the domain's NICs in the host's ARP table: only bridge NICs can appear there
   * (user-mode NICs live inside QEMU). ARP knows no prefix: 0, as libvirt reports it.
   */
  async arpAddresses(vmId: string): Promise<InterfaceAddress[]> {
    const stored = await this.host.requireDomain(vmId);
    const macs = new Set(nicsOf(stored.spec).map((nic) => nic.mac));
    const table = await readFile('/proc/net/arp', 'utf8').catch(() => '');
    return table
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter(([ip, , flags, mac]) => ip && flags !== '0x0' && macs.has(mac?.toLowerCase()))
      .map(([ip, , , mac]) => ({ mac: mac.toLowerCase(), ip, prefix: 0, family: 'ipv4' as const }));
  }

  private async changeForwards(
    vmId: string,
    nicId: string,
    forward: PortForwardSpec,
    change: (
      forwards: PortForwardSpec[],
      live?: (
        apply: (qmp: QmpClient, nic: NicSpec, forward: PortForwardSpec, vmId: string) => Promise<void>,
      ) => Promise<void>,
    ) => Promise<PortForwardSpec[]>,
  ): Promise<SetResourceResult> {
    assertNicId(nicId);
    const stored = await this.host.requireDomain(vmId);
    const nics = nicsOf(stored.spec);
    const nic = nics.find((candidate) => candidate.id === nicId);
    if (!nic) invalid(`domain ${domainNameFor(vmId)} has no NIC ${nicId}`);
    if (nic.attachment.type !== 'user') invalid(`NIC ${nicId} is not a user-mode NIC: only those have port forwards`);
    const monitor = await this.host.monitor(vmId);
    const live = monitor ? (apply: typeof addLiveForward) => apply(monitor.qmp, nic, forward, vmId) : undefined;
    const forwards = await change(nic.attachment.portForwards ?? [], live);
    const changed = nics.map((other) =>
      other.id === nicId ? { ...other, attachment: { type: 'user' as const, portForwards: forwards } } : other,
    );
    await this.write(stored, changed);
    return { config: true, live: monitor !== undefined };
  }

  private async write(stored: StoredDomain, nics: NicSpec[]): Promise<void> {
    // Re-read: the definition may have changed while QEMU worked (another field, never the NICs:
    // the api runs one operation per VM at a time).
    const current = (await this.host.store.read(stored.spec.vmId)) ?? stored;
    await this.host.store.write({ ...current, spec: { ...current.spec, nics }, mac: nics[0]?.mac });
  }
}
