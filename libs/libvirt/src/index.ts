export * from './models';
export * from './errors/hypervisor-error';
export * from './port/virtualization-port';
export * from './port/port-options';
export * from './port/create-virtualization-port';
export * from './libvirt.module';
export type { LibLogger } from './transport/logger';
export type { VirtTypeSetting } from './host/virt-type-resolver';
export { domainNameFor, vmIdFromDomainName, macAddressFor } from './naming/domain-name';
export { LibvirtAdapter } from './adapters/libvirt/libvirt-adapter';
export { QemuDirectAdapter } from './adapters/qemu-direct/qemu-direct-adapter';
export { QmpClient } from './qmp/qmp-client';
export { VirshPool } from './transport/virsh-pool';
export { libvirtUriRefusal } from './transport/libvirt-uri';
export { inspectImageFile } from './volumes/image-file';
export type { ImageFileInspection } from './volumes/image-file';
export type { CommandObserver } from './transport/virsh-pool';
export {
  VM_POOL_NAME,
  IMAGE_POOL_NAME,
  assertPoolName,
  assertVolumeName,
  diskVolumeName,
  seedVolumeName,
  serialLogName,
  imageVolumeName,
} from './naming/storage-name';
