import { HypervisorError } from '../../errors/hypervisor-error';
import { DomainState, SnapshotCreateSpec, SnapshotInfo } from '../../models';
import { buildXml, childOf, parseXml, textOf } from '../../xml/xml-codec';

/** `<domainsnapshot>` for an internal snapshot; the description is escaped by the XML library. */
export function buildSnapshotXml(spec: SnapshotCreateSpec): string {
  const snapshot: Record<string, unknown> = { name: spec.name };
  if (spec.description !== undefined) snapshot.description = spec.description;
  return buildXml({ domainsnapshot: snapshot });
}

const SNAPSHOT_STATES: Record<string, DomainState> = {
  running: 'running',
  blocked: 'blocked',
  paused: 'paused',
  shutdown: 'shutdown',
  shutoff: 'shutoff',
  crashed: 'crashed',
  pmsuspended: 'pmsuspended',
  'disk-snapshot': 'shutoff',
};

export function parseSnapshotXml(xml: string, currentName: string | undefined): SnapshotInfo {
  const snapshot = childOf(parseXml(xml), 'domainsnapshot');
  if (!snapshot) throw new HypervisorError('OPERATION_FAILED', 'not a domain snapshot XML document');
  const name = textOf(childOf(snapshot, 'name')) ?? '';
  const description = textOf(childOf(snapshot, 'description'));
  const parent = textOf(childOf(childOf(snapshot, 'parent'), 'name'));
  const state = textOf(childOf(snapshot, 'state')) ?? 'shutoff';
  return {
    name,
    ...(description !== undefined ? { description } : {}),
    createdAt: new Date(Number(textOf(childOf(snapshot, 'creationTime')) ?? '0') * 1000),
    domainState: SNAPSHOT_STATES[state] ?? 'nostate',
    current: name === currentName,
    ...(parent ? { parent } : {}),
  };
}
