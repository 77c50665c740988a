// Test doubles for unit specs (`@limen/libvirt/testing`). Never imported by production code:
// ESLint refuses it outside *.spec.ts files.
export { FakeVirtualizationPort } from './fake-virtualization-port';
export type { FakeVirtualizationPortOptions } from './fake-virtualization-port';
export type { FakeCall, FakePortMethod } from './fake-calls';
export type { FakeFile, FakeFileOptions, FakeFolder, FakeFileSystem } from './fake-file-system';
export type { FakeConsoles } from './fake-consoles';
export type { FakeStorage } from './fake-storage';
export type { FakeGuestAgent } from './fake-domain';
export type { FakeNetworks } from './fake-networks';
