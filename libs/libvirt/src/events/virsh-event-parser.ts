import { DomainEvent, LifecycleEventType } from '../models';
import { vmIdFromDomainName } from '../naming/domain-name';

// virsh prints lifecycle events as "<Event> <Detail words>", e.g. "Stopped Destroyed" or
// "Shutdown Finished after host request".
const LIFECYCLE_TYPES: Record<string, LifecycleEventType> = {
  Defined: 'defined',
  Undefined: 'undefined',
  Started: 'started',
  Suspended: 'suspended',
  Resumed: 'resumed',
  Stopped: 'stopped',
  Shutdown: 'shutdown',
  PMSuspended: 'pmsuspended',
  Crashed: 'crashed',
};

// `2026-11-26 08:50:15.218+0000: event 'lifecycle' for domain 'limen-x': Stopped Destroyed`
const EVENT_LINE =
  /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2})(\d{2}): event '([^']+)' for domain '(.*?)'(?:: (.*))?$/;

/** Parses one line of `virsh event --all --loop --timestamp`; undefined for anything else. */
export function parseVirshEventLine(line: string): DomainEvent | undefined {
  const match = EVENT_LINE.exec(line.trimEnd());
  if (!match) return undefined;
  const [, date, time, tzHours, tzMinutes, name, domainName, rest = ''] = match;
  const timestamp = new Date(`${date}T${time}${tzHours}:${tzMinutes}`);
  const vmId = vmIdFromDomainName(domainName);
  const base = { domainName, ...(vmId ? { vmId } : {}), timestamp };

  if (name === 'lifecycle') {
    const space = rest.indexOf(' ');
    const head = space < 0 ? rest : rest.slice(0, space);
    const type = LIFECYCLE_TYPES[head];
    if (type) {
      return { kind: 'lifecycle', ...base, type, detail: (space < 0 ? '' : rest.slice(space + 1)).toLowerCase() };
    }
  }
  if (name === 'agent-lifecycle') {
    // `state: 'connected' reason: 'channel event'`: consumers want the state alone.
    const state = /state: '([^']*)'/.exec(rest)?.[1];
    if (state) return { kind: 'other', ...base, name, detail: state };
  }
  return { kind: 'other', ...base, name, detail: rest };
}
