import { HypervisorError } from '../errors/hypervisor-error';
import { VirtualizationPort } from '../port/virtualization-port';

/** Every port method but events(), which is not a call that can fail. */
const PORT_METHODS = [
  'getHostCapabilities',
  'listDomains',
  'getDomain',
  'defineDomain',
  'redefineDomain',
  'undefineDomain',
  'start',
  'shutdown',
  'destroy',
  'reboot',
  'reset',
  'suspend',
  'resume',
  'setVcpus',
  'setMemory',
  'insertCdrom',
  'ejectCdrom',
  'createSnapshot',
  'listSnapshots',
  'revertSnapshot',
  'deleteSnapshot',
  'getStats',
  'getAllStats',
  'getVncEndpoint',
  'getSerialConsole',
  'tailSerialLog',
  'screenshot',
  'openConsole',
  'ensureStoragePool',
  'listStoragePools',
  'createVolume',
  'getVolume',
  'resizeVolume',
  'deleteVolume',
  'cloneVolume',
  'uploadVolume',
  'downloadVolume',
  'exportVolume',
  'createSeedIso',
  'attachDisk',
  'detachDisk',
  'growDisk',
  'ensureNetwork',
  'removeNetwork',
  'listNetworks',
  'listHostRoutes',
  'hasBridge',
  'getDhcpLeases',
  'attachNic',
  'detachNic',
  'addPortForward',
  'removePortForward',
  'getInterfaceAddresses',
  'getGuestInfo',
  'guestExec',
  'freezeFilesystems',
  'thawFilesystems',
  'beginDiskBackup',
  'waitDiskBackup',
  'abortDiskBackup',
  'close',
] as const;

export type FakePortMethod = (typeof PORT_METHODS)[number];
// A port method missing from PORT_METHODS fails to compile here.
const _everyMethodListed: [Exclude<keyof VirtualizationPort, FakePortMethod | 'events'>] extends [never]
  ? true
  : never = true;

export interface FakeCall {
  method: FakePortMethod;
  args: unknown[];
}

/** What the fake port was asked, and the failures a test wants it to answer with. */
export class FakeCallLog {
  readonly calls: FakeCall[] = [];
  private readonly faults = new Map<FakePortMethod, HypervisorError[]>();
  private unavailable = false;

  failNext(method: FakePortMethod, error: HypervisorError): void {
    this.faults.set(method, [...(this.faults.get(method) ?? []), error]);
  }

  setUnavailable(down: boolean): void {
    this.unavailable = down;
  }

  /** Wraps every port method of `port`: recorded, then refused when a failure is due. */
  install(port: VirtualizationPort): void {
    const methods = port as unknown as Record<FakePortMethod, (...args: unknown[]) => Promise<unknown>>;
    for (const method of PORT_METHODS) {
      const real = methods[method].bind(port);
      methods[method] = async (...args: unknown[]) => {
        this.calls.push({ method, args });
        if (this.unavailable && method !== 'close')
          throw new HypervisorError('HYPERVISOR_UNAVAILABLE', 'the fake hypervisor is down');
        const fault = this.faults.get(method)?.shift();
        if (fault) throw fault;
        return real(...args);
      };
    }
  }
}
