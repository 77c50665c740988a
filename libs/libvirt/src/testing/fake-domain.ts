import { HypervisorError } from '../errors/hypervisor-error';
import {
  DomainInfo,
  DomainNicInfo,
  GuestExecResult,
  GuestOsInfo,
  InterfaceAddress,
  DomainSpec,
  DomainState,
  DomainStats,
  ShutoffReason,
  SnapshotInfo,
  VirtType,
} from '../models';
import { domainNameFor } from '../naming/domain-name';
import { nicsOf } from '../networks/network-validation';
import { diskInfosOf, diskTargets } from '../xml/spec-validation';

export interface FakeSnapshot {
  name: string;
  description?: string;
  createdAt: Date;
  domainState: DomainState;
  parent?: string;
  /** The disks' content when it was taken, restored by a revert. */
  disks: Map<string, Buffer>;
  /** Bytes of RAM state it added to the first disk (running snapshots). */
  memoryBytes: number;
}

/** A domain of the fake hypervisor. */
export interface FakeDomain {
  /** The persistent definition (what the next cold boot uses). */
  config: DomainSpec;
  /** The definition the running QEMU was started with, changed by live updates only. */
  live?: DomainSpec;
  uuid: string;
  virtType: VirtType;
  state: DomainState;
  shutoffReason?: ShutoffReason;
  /** When QEMU was started, for CPU time. */
  startedAt?: number;
  snapshots: FakeSnapshot[];
  currentSnapshot?: string;
  /** False: the guest ignores the ACPI power button (shutdown times out, reboot does nothing). */
  acpi: boolean;
  /** The QEMU guest agent the guest runs (setGuestAgent); it connects at each boot. */
  agent?: FakeGuestAgent;
  /** Whether the agent answers now (running, channel defined, agent started). */
  agentConnected?: boolean;
  /** Filesystems the agent froze (freezeFilesystems) and not yet thawed. */
  frozenFilesystems?: number;
}

/** What the guest agent of a fake guest answers. */
export interface FakeGuestAgent {
  os: GuestOsInfo;
  hostname?: string;
  /** What guest-network-get-interfaces reports; default: one address per NIC (see getInterfaceAddresses). */
  addresses?: InterfaceAddress[];
  /** guest-exec: default exit code 0 and no output. */
  exec?: (command: string[], input?: string) => GuestExecResult | Promise<GuestExecResult>;
  /** How many filesystems a freeze reports. Default 1. */
  filesystems?: number;
}

/** NICs as the adapters report them: libvirt's interfaces first, then the user-mode ones. */
export function nicInfos(spec: DomainSpec): DomainNicInfo[] {
  const nics = nicsOf(spec).map(({ id, mac, model, attachment }): DomainNicInfo => {
    if (attachment.type !== 'user' || attachment.portForwards?.length) return { id, mac, model, attachment };
    return { id, mac, model, attachment: { type: 'user' } };
  });
  return [
    ...nics.filter((nic) => nic.attachment.type !== 'user'),
    ...nics.filter((nic) => nic.attachment.type === 'user'),
  ];
}

export function isActive(state: DomainState): boolean {
  return state === 'running' || state === 'paused' || state === 'blocked' || state === 'pmsuspended';
}

export function invalidState(vmId: string, why: string): HypervisorError {
  return new HypervisorError('INVALID_STATE', `domain ${domainNameFor(vmId)} ${why}`);
}

/** DomainInfo as the adapters report it: the live definition while QEMU runs (as libvirt does). */
export function domainInfo(domain: FakeDomain): DomainInfo {
  const spec = domain.live ?? domain.config;
  const nics = nicInfos(spec);
  const mac = nics[0]?.mac;
  const guestAgent =
    spec.guestAgent === false ? 'absent' : domain.live && domain.agentConnected ? 'connected' : 'disconnected';
  return {
    name: domainNameFor(spec.vmId),
    uuid: domain.uuid,
    vmId: spec.vmId,
    ownerId: spec.ownerId,
    ...(spec.title !== undefined ? { title: spec.title } : {}),
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    state: domain.state,
    ...(domain.state === 'shutoff' && domain.shutoffReason ? { shutoffReason: domain.shutoffReason } : {}),
    persistent: true,
    vcpus: spec.vcpus,
    maxVcpus: spec.maxVcpus ?? spec.vcpus,
    memoryMiB: spec.memoryMiB,
    maxMemoryMiB: spec.maxMemoryMiB ?? spec.memoryMiB,
    virtType: domain.virtType,
    machine: spec.machine ?? 'q35',
    disks: diskInfosOf(spec),
    ...(mac ? { mac } : {}),
    nics,
    guestAgent,
    serialLogPath: spec.serialLogPath,
    vncEnabled: spec.vnc?.enabled ?? false,
    // Direct kernel boot bypasses the firmware boot order.
    ...(spec.kernel ? {} : { bootOrder: spec.bootOrder ?? ['hd'] }),
  };
}

export function domainStats(domain: FakeDomain, now = Date.now()): DomainStats {
  const spec = domain.live ?? domain.config;
  const active = isActive(domain.state) && domain.startedAt !== undefined;
  return {
    name: domainNameFor(spec.vmId),
    vmId: spec.vmId,
    state: domain.state,
    // Every vCPU busy since the start, and at least 1 ns: a running guest has used some CPU.
    cpuTimeNs: active ? (now - domain.startedAt! + 1) * 1_000_000 * spec.vcpus : 0,
    vcpus: spec.vcpus,
    memory: { currentKiB: spec.memoryMiB * 1024, maxKiB: (spec.maxMemoryMiB ?? spec.memoryMiB) * 1024 },
    block: active
      ? spec.disks.map((disk, index) => ({
          name: diskTargets(spec.disks)[index],
          path: disk.path,
          readBytes: 0,
          writeBytes: 0,
          readRequests: 0,
          writeRequests: 0,
        }))
      : [],
    net: [],
    collectedAt: new Date(now),
  };
}

export function snapshotInfo(domain: FakeDomain, snapshot: FakeSnapshot): SnapshotInfo {
  return {
    name: snapshot.name,
    ...(snapshot.description !== undefined ? { description: snapshot.description } : {}),
    createdAt: snapshot.createdAt,
    domainState: snapshot.domainState,
    current: snapshot.name === domain.currentSnapshot,
    ...(snapshot.parent ? { parent: snapshot.parent } : {}),
  };
}
