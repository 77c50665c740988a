import { hostname } from 'node:os';
import { AppConfig } from '../config/app-config';
import { effectiveStoragePath, isOnApiMachine, urlIsThisMachine } from './host-locality';
import { hostRow } from './testing/fake-hosts';

const CONFIG = {
  hostName: 'hv-1',
  hypervisor: { vmDir: '/var/lib/limen/vms', storageRoots: ['/srv/limen', '/var/lib/limen'] },
} as AppConfig;

describe('host locality', () => {
  it('counts the local host, qemu-direct hosts and qemu:/// URIs as this machine, and remote URIs as not', () => {
    expect(isOnApiMachine(hostRow('hv-1', { libvirtUri: 'qemu+ssh://hv-1/system' }), CONFIG)).toBe(true);
    expect(isOnApiMachine(hostRow('direct', { adapter: 'qemu-direct', libvirtUri: null }), CONFIG)).toBe(true);
    expect(isOnApiMachine(hostRow('alias', { libvirtUri: 'qemu:///system' }), CONFIG)).toBe(true);
    expect(isOnApiMachine(hostRow('hv-2', { libvirtUri: 'qemu+ssh://limen@hv-2/system' }), CONFIG)).toBe(false);
    expect(isOnApiMachine(hostRow('relay', { libvirtUri: 'qemu+tcp://127.0.0.1:16600/system' }), CONFIG)).toBe(false);
  });

  it('puts the VM pool where it was registered, else in VM_DIR on this machine and under the first root elsewhere', () => {
    expect(effectiveStoragePath(hostRow('hv-1'), CONFIG)).toBe('/var/lib/limen/vms');
    expect(effectiveStoragePath(hostRow('hv-2', { libvirtUri: 'qemu+tls://hv-2/system' }), CONFIG)).toBe(
      '/srv/limen/pool',
    );
    expect(
      effectiveStoragePath(
        hostRow('hv-3', { libvirtUri: 'qemu+tls://hv-3/system', storagePath: '/srv/limen/p' }),
        CONFIG,
      ),
    ).toBe('/srv/limen/p');
  });

  it.each([
    'http://127.0.0.1:9000',
    'http://127.3.2.1',
    'http://localhost:9000',
    'http://[::1]:9000',
    `http://${hostname()}:9000`,
  ])('takes %s for this machine', (url) => {
    expect(urlIsThisMachine(url)).toBe(true);
  });

  it.each(['http://192.0.2.7:9000', 'https://agent.example.com', 'not a url'])(
    'takes %s for another machine',
    (url) => {
      expect(urlIsThisMachine(url)).toBe(false);
    },
  );
});
