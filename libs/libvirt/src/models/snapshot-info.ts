import { DomainState } from './domain-state';

export interface SnapshotInfo {
  name: string;
  description?: string;
  createdAt: Date;
  /** Domain state when the snapshot was taken (running snapshots include memory). */
  domainState: DomainState;
  current: boolean;
  parent?: string;
}

export interface SnapshotCreateSpec {
  /** 1-64 characters of [A-Za-z0-9._-], starting alphanumeric (QEMU's monitor has no quoting). */
  name: string;
  description?: string;
}
