import { access, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { HypervisorError } from '../../errors/hypervisor-error';
import { NetStats, NicSpec } from '../../models';
import { assertHostBridgeName } from '../../naming/network-name';
import { runProcess } from '../../transport/process-runner';
import { BridgeMode, tapNameOf } from './nic-argv';

export const DEFAULT_BRIDGE_ACL = '/etc/qemu/bridge.conf';

export interface BridgeAccessOptions {
  /** qemu-bridge-helper's ACL (the helper reads its compiled-in path; this is for reading it). */
  aclPath?: string;
  /** The `/sys/class/net` folder. */
  sysNet?: string;
  /** Whether the api runs as root (tap devices and `ip link` need CAP_NET_ADMIN). */
  isRoot?: boolean;
}

/**
 * What the bridges of the host allow qemu-direct to do. Running as root, QEMU opens a tap device
 * and the adapter enslaves it (and tags a VLAN) with `ip`/`bridge`; otherwise only
 * qemu-bridge-helper can attach a guest, for the bridges its ACL allows, and without VLANs.
 */
export class BridgeAccess {
  private readonly aclPath: string;
  private readonly sysNet: string;
  private readonly isRoot: boolean;

  constructor(options: BridgeAccessOptions = {}) {
    this.aclPath = options.aclPath ?? DEFAULT_BRIDGE_ACL;
    this.sysNet = options.sysNet ?? '/sys/class/net';
    this.isRoot = options.isRoot ?? process.getuid?.() === 0;
  }

  async hasBridge(name: string): Promise<boolean> {
    assertHostBridgeName(name);
    return access(join(this.sysNet, name, 'bridge')).then(
      () => true,
      () => false,
    );
  }

  /** How bridge NICs attach on this host; UNSUPPORTED when they cannot without root setup. */
  async modeFor(nics: NicSpec[]): Promise<BridgeMode> {
    const bridged = nics.filter((nic) => nic.attachment.type === 'bridge');
    if (bridged.length === 0 || this.isRoot) return 'tap';
    for (const nic of bridged) {
      if (nic.attachment.type !== 'bridge') continue;
      const { bridge, vlan } = nic.attachment;
      if (vlan !== undefined)
        throw new HypervisorError(
          'UNSUPPORTED',
          `qemu-direct tags VLANs only when the api runs as root (NIC on ${bridge} with VLAN ${vlan})`,
        );
      if (!(await this.helperAllows(bridge)))
        throw new HypervisorError(
          'UNSUPPORTED',
          `qemu-direct attaches to bridge ${bridge} only as root, or through qemu-bridge-helper (setuid root) ` +
            `with "allow ${bridge}" in ${this.aclPath}`,
        );
    }
    return 'helper';
  }

  /** Whether qemu-bridge-helper's ACL lets an unprivileged QEMU use `bridge` (deny wins, as in the helper). */
  async helperAllows(bridge: string): Promise<boolean> {
    const rules = await readAcl(this.aclPath, 0);
    let allowed = false;
    let denied = false;
    for (const [verb, name] of rules) {
      if (name !== 'all' && name !== bridge) continue;
      if (verb === 'allow') allowed = true;
      else denied = true;
    }
    return allowed && !denied;
  }

  /**
   * After QEMU opened the taps of its bridge NICs (tap mode): each joins its bridge and comes up;
   * with a VLAN, the port carries that VLAN untagged and nothing else (the bridge must filter VLANs).
   */
  async plugTaps(vmId: string, nics: NicSpec[]): Promise<void> {
    for (const nic of nics) {
      if (nic.attachment.type !== 'bridge') continue;
      const { bridge, vlan } = nic.attachment;
      const tap = tapNameOf(vmId, nic.id);
      await ip(['link', 'set', 'dev', tap, 'master', bridge, 'up'], `cannot attach ${tap} to bridge ${bridge}`);
      if (vlan === undefined) continue;
      await this.assertVlanFiltering(bridge, vlan);
      await ip(['vlan', 'add', 'dev', tap, 'vid', String(vlan), 'pvid', 'untagged'], `cannot tag ${tap}`, 'bridge');
      await ip(['vlan', 'del', 'dev', tap, 'vid', '1'], `cannot untag ${tap}`, 'bridge').catch(() => undefined);
    }
  }

  /**
   * Traffic of the taps of a running domain's bridge NICs (tap mode; qemu-bridge-helper names its
   * taps itself). The tap's counters are the host's view: what it receives, the guest sent, so they
   * are swapped to the guest's view, as libvirt reports them.
   */
  async tapStats(vmId: string, nics: NicSpec[]): Promise<NetStats[]> {
    if (!this.isRoot) return [];
    const stats = await Promise.all(
      nics
        .filter((nic) => nic.attachment.type === 'bridge')
        .map(async (nic) => {
          const tap = tapNameOf(vmId, nic.id);
          const read = async (counter: string) =>
            Number((await readFile(join(this.sysNet, tap, 'statistics', counter), 'utf8')).trim());
          try {
            const [rxBytes, txBytes, rxPackets, txPackets, rxErrors, txErrors, rxDrops, txDrops] = await Promise.all(
              [
                'tx_bytes',
                'rx_bytes',
                'tx_packets',
                'rx_packets',
                'tx_errors',
                'rx_errors',
                'tx_dropped',
                'rx_dropped',
              ].map(read),
            );
            return [{ name: tap, rxBytes, txBytes, rxPackets, txPackets, rxErrors, txErrors, rxDrops, txDrops }];
          } catch {
            return [];
          }
        }),
    );
    return stats.flat();
  }

  /** Before a start or hot-plug: the bridges must exist (QEMU's own error would be obscure). */
  async assertBridgesExist(nics: NicSpec[]): Promise<void> {
    for (const nic of nics) {
      if (nic.attachment.type === 'bridge' && !(await this.hasBridge(nic.attachment.bridge)))
        throw new HypervisorError('OPERATION_FAILED', `host bridge ${nic.attachment.bridge} does not exist`);
    }
  }

  private async assertVlanFiltering(bridge: string, vlan: number): Promise<void> {
    const filtering = await readFile(join(this.sysNet, bridge, 'bridge', 'vlan_filtering'), 'utf8').catch(() => '0');
    if (filtering.trim() !== '1')
      throw new HypervisorError(
        'UNSUPPORTED',
        `bridge ${bridge} does not filter VLANs, so VLAN ${vlan} cannot be set on its port ` +
          `(ip link set ${bridge} type bridge vlan_filtering 1)`,
      );
  }
}

async function ip(args: string[], what: string, binary = 'ip'): Promise<void> {
  const result = await runProcess(binary, args, { allowFailure: true, timeoutMs: 10_000 });
  if (result.exitCode !== 0) throw new HypervisorError('OPERATION_FAILED', `${what}: ${result.stderr.trim()}`);
}

/** `allow NAME`, `deny NAME`, `allow all`, `deny all`, `include FILE` and # comments, as the helper reads them. */
async function readAcl(path: string, depth: number): Promise<Array<['allow' | 'deny', string]>> {
  if (depth > 8) return [];
  const text = await readFile(path, 'utf8').catch(() => '');
  const rules: Array<['allow' | 'deny', string]> = [];
  for (const raw of text.split('\n')) {
    const [verb, argument] = raw.replace(/#.*/, '').trim().split(/\s+/);
    if (!argument) continue;
    if (verb === 'allow' || verb === 'deny') rules.push([verb, argument]);
    else if (verb === 'include') {
      const included = isAbsolute(argument) ? argument : join(dirname(path), argument);
      rules.push(...(await readAcl(included, depth + 1)));
    }
  }
  return rules;
}
