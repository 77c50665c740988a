import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HypervisorError } from '../../errors/hypervisor-error';
import { withScratchDir } from '../../host/scratch-dir';
import { DomainNicInfo, NicSpec, PortForwardSpec, SetResourceResult } from '../../models';
import { domainNameFor } from '../../naming/domain-name';
import { assertNicId, nicAlias, userNetdevId } from '../../naming/network-name';
import { MAX_NICS, validateNic, validatePortForward } from '../../networks/network-validation';
import { VirshPool } from '../../transport/virsh-pool';
import { replaceUserNics } from '../../xml/domain-xml-edit';
import { parseDomainXml } from '../../xml/domain-xml-parser';
import { interfaceNode } from '../../xml/nic-xml';
import { USER_NETDEV_ID } from '../../xml/qemu-namespace';
import { buildXml } from '../../xml/xml-codec';

export const USER_NIC_HOT_PLUG = 'a user-mode NIC can only be added to or removed from a stopped VM';

function invalid(message: string): HypervisorError {
  return new HypervisorError('INVALID_ARGUMENT', message);
}

function sameForward(a: PortForwardSpec, b: PortForwardSpec): boolean {
  return a.protocol === b.protocol && a.hostAddress === b.hostAddress && a.hostPort === b.hostPort;
}

/** A reported NIC as a spec again (NICs LIMEN did not add keep no id and cannot be rewritten by id). */
function asSpec(nic: DomainNicInfo, index: number): NicSpec {
  return {
    id: nic.id ?? `legacy-${index}`,
    mac: nic.mac,
    model: (nic.model as NicSpec['model']) ?? 'virtio',
    attachment: nic.attachment,
  };
}

/**
 * The user-mode NIC `nicId` names: by id, else the one id-less user-mode NIC of a definition made
 * before NICs had ids (its netdev is `limen-net0`), which takes the id from now on.
 */
function findUserNic(nics: DomainNicInfo[], nicId: string): DomainNicInfo | undefined {
  const byId = nics.find((nic) => nic.id === nicId);
  if (byId) return byId;
  const legacy = nics.filter((nic) => nic.id === undefined && nic.attachment.type === 'user');
  return legacy.length === 1 ? legacy[0] : undefined;
}

export interface LibvirtNicsOptions {
  pool: VirshPool;
  /** Whether the domain runs (a live definition exists). */
  isActive(name: string): Promise<boolean>;
  /** How long detachNic waits for the guest to release a NIC. */
  detachTimeoutMs?: number;
  pollIntervalMs?: number;
}

/**
 * NICs and port forwards of libvirt domains. Network and bridge NICs are `<interface>` devices
 * (hot-plugged with attach-device, unplugged by alias); user-mode NICs live in the definition's
 * `<qemu:commandline>`, which only changes while the domain is shut off, except for port forwards,
 * which QEMU's monitor adds and removes live (hostfwd_add / hostfwd_remove).
 */
export class LibvirtNics {
  constructor(private readonly options: LibvirtNicsOptions) {}

  private get pool(): VirshPool {
    return this.options.pool;
  }

  async attach(vmId: string, nic: NicSpec): Promise<SetResourceResult> {
    validateNic(nic);
    const name = domainNameFor(vmId);
    const added: NicSpec = { ...nic, mac: nic.mac.toLowerCase(), model: nic.model ?? 'virtio' };
    const { xml, nics } = await this.definition(name);
    if (nics.some((other) => other.id === added.id || other.mac === added.mac))
      throw invalid(`domain ${name} already has a NIC with id ${added.id} or MAC ${added.mac}`);
    if (nics.length >= MAX_NICS) throw invalid(`at most ${MAX_NICS} NICs`);
    const live = await this.options.isActive(name);
    if (added.attachment.type === 'user') {
      if (live) throw new HypervisorError('INVALID_STATE', `domain ${name} is running: ${USER_NIC_HOT_PLUG}`);
      await this.redefineUserNics(name, xml, [...nics.map(asSpec), added]);
      return { config: true, live: false };
    }
    await withScratchDir(async (dir) => {
      const file = join(dir, 'nic.xml');
      await writeFile(file, buildXml({ interface: interfaceNode(added) }), { mode: 0o600 });
      await this.pool.run({
        name: 'attach-device',
        options: { domain: name, file },
        flags: live ? ['config', 'live'] : ['config'],
      });
    });
    return { config: true, live };
  }

  /** Idempotent. Waits until the guest released a hot-unplugged NIC (TIMEOUT if it does not). */
  async detach(vmId: string, nicId: string): Promise<SetResourceResult> {
    assertNicId(nicId);
    const name = domainNameFor(vmId);
    const live = await this.options.isActive(name);
    const { xml, nics } = await this.definition(name);
    const liveNics = live
      ? parseDomainXml(await this.pool.run({ name: 'dumpxml', options: { domain: name } })).nics
      : [];
    const nic = nics.find((candidate) => candidate.id === nicId);
    const liveNic = liveNics.find((candidate) => candidate.id === nicId);
    if ((nic ?? liveNic)?.attachment.type === 'user') {
      if (live) throw new HypervisorError('INVALID_STATE', `domain ${name} is running: ${USER_NIC_HOT_PLUG}`);
      await this.redefineUserNics(name, xml, nics.filter((other) => other.id !== nicId).map(asSpec));
      return { config: true, live: false };
    }
    const alias = nicAlias(nicId);
    if (nic) await this.pool.run({ name: 'detach-device-alias', options: { domain: name, alias }, flags: ['config'] });
    if (liveNic) {
      await this.pool.run({ name: 'detach-device-alias', options: { domain: name, alias }, flags: ['live'] });
      await this.waitUntilGone(name, nicId);
    }
    return { config: true, live };
  }

  async addForward(vmId: string, nicId: string, forward: PortForwardSpec): Promise<SetResourceResult> {
    validatePortForward(forward);
    return this.changeForwards(vmId, nicId, forward, (forwards) => {
      const clash = forwards.find((other) => sameForward(other, forward));
      if (clash && clash.guestPort !== forward.guestPort)
        throw invalid(`host port ${forward.protocol}/${forward.hostPort} already forwards to ${clash.guestPort}`);
      return clash ? forwards : [...forwards, { ...forward }];
    });
  }

  async removeForward(vmId: string, nicId: string, forward: PortForwardSpec): Promise<SetResourceResult> {
    validatePortForward(forward);
    return this.changeForwards(vmId, nicId, forward, (forwards) =>
      forwards.filter((other) => !sameForward(other, forward)),
    );
  }

  private async changeForwards(
    vmId: string,
    nicId: string,
    forward: PortForwardSpec,
    change: (forwards: PortForwardSpec[]) => PortForwardSpec[],
  ): Promise<SetResourceResult> {
    assertNicId(nicId);
    const name = domainNameFor(vmId);
    const { xml, nics } = await this.definition(name);
    const nic = findUserNic(nics, nicId);
    if (!nic) throw invalid(`domain ${name} has no NIC ${nicId}`);
    if (nic.attachment.type !== 'user')
      throw invalid(`NIC ${nicId} is not a user-mode NIC: only those have port forwards`);
    const forwards = change(nic.attachment.portForwards ?? []);
    const adding = forwards.some((other) => sameForward(other, forward));
    const updated = nics.map((other, index) =>
      other === nic
        ? { ...asSpec(other, index), id: nicId, attachment: { type: 'user' as const, portForwards: forwards } }
        : asSpec(other, index),
    );
    await this.redefineUserNics(name, xml, updated);
    if (!(await this.options.isActive(name))) return { config: true, live: false };
    return { config: true, live: await this.applyLive(name, nicId, forward, adding) };
  }

  /** hostfwd_add / hostfwd_remove on the running QEMU, unless the live netdev already is as wanted. */
  private async applyLive(name: string, nicId: string, forward: PortForwardSpec, adding: boolean): Promise<boolean> {
    const liveNics = parseDomainXml(await this.pool.run({ name: 'dumpxml', options: { domain: name } })).nics;
    const liveNic = findUserNic(liveNics, nicId);
    // Not in this QEMU (added to the definition after it started): applies at the next boot.
    if (liveNic?.attachment.type !== 'user') return false;
    const netdev = liveNic.id ? userNetdevId(liveNic.id) : USER_NETDEV_ID;
    const present = await this.liveForwardPresent(name, netdev, forward);
    if (present === adding) return true;
    const rule = `${forward.protocol}:${forward.hostAddress}:${forward.hostPort}`;
    const command = adding ? `hostfwd_add ${netdev} ${rule}-:${forward.guestPort}` : `hostfwd_remove ${netdev} ${rule}`;
    const output = (await this.monitor(name, command)).trim();
    // HMP reports failures as text: "Could not set up host forwarding rule '…'", "invalid format".
    if (adding ? output !== '' : !/removed/.test(output))
      throw new HypervisorError(adding ? 'BUSY' : 'OPERATION_FAILED', `${command}: ${output}`, output);
    return true;
  }

  /** `info usernet` lists each netdev's forwards as `TCP[HOST_FORWARD] fd  127.0.0.1 20022  10.0.2.15 22 …`. */
  private async liveForwardPresent(name: string, netdev: string, forward: PortForwardSpec): Promise<boolean> {
    const output = await this.monitor(name, 'info usernet');
    const section = output.split(/^(?=Hub )/m).find((part) => part.includes(`(${netdev})`)) ?? '';
    const protocol = forward.protocol.toUpperCase();
    return section.split('\n').some((line) => {
      const fields = line.trim().split(/\s+/);
      return (
        fields[0] === `${protocol}[HOST_FORWARD]` &&
        fields[2] === forward.hostAddress &&
        fields[3] === String(forward.hostPort)
      );
    });
  }

  private monitor(name: string, command: string): Promise<string> {
    return this.pool.run({ name: 'qemu-monitor-command', options: { domain: name }, flags: ['hmp'], rest: [command] });
  }

  /** The persistent definition, with secrets (a redefine from it must keep the VNC password). */
  private async definition(name: string): Promise<{ xml: string; nics: DomainNicInfo[] }> {
    const xml = await this.pool.run({
      name: 'dumpxml',
      options: { domain: name },
      flags: ['inactive', 'security-info'],
    });
    return { xml, nics: parseDomainXml(xml).nics };
  }

  private async redefineUserNics(name: string, xml: string, nics: NicSpec[]): Promise<void> {
    const parsed = parseDomainXml(xml);
    const edited = replaceUserNics(xml, nics, {
      bootOrder: parsed.kernelPath ? undefined : parsed.bootOrder,
      hasInterfaces: nics.some((nic) => nic.attachment.type !== 'user'),
    });
    await withScratchDir(async (dir) => {
      const file = join(dir, 'domain.xml');
      await writeFile(file, edited, { mode: 0o600 });
      await this.pool.run({ name: 'define', options: { file }, flags: ['validate'] });
    });
  }

  private async waitUntilGone(name: string, nicId: string): Promise<void> {
    const timeoutMs = this.options.detachTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const live = parseDomainXml(await this.pool.run({ name: 'dumpxml', options: { domain: name } }));
      if (!live.nics.some((nic) => nic.id === nicId)) return;
      if (Date.now() >= deadline)
        throw new HypervisorError(
          'TIMEOUT',
          `domain ${name}: the guest did not release NIC ${nicId} within ${timeoutMs} ms`,
        );
      await new Promise((resolve) => setTimeout(resolve, this.options.pollIntervalMs ?? 250));
    }
  }
}
