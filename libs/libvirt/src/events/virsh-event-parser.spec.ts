import { parseVirshEventLine } from './virsh-event-parser';

describe('parseVirshEventLine', () => {
  it('parses lifecycle events with detail and LIMEN VM id', () => {
    expect(
      parseVirshEventLine(
        "2026-11-26 08:50:19.528+0000: event 'lifecycle' for domain 'limen-0d6b2c4e-1111-4222-8333-944455556666': Stopped Destroyed",
      ),
    ).toEqual({
      kind: 'lifecycle',
      type: 'stopped',
      detail: 'destroyed',
      domainName: 'limen-0d6b2c4e-1111-4222-8333-944455556666',
      vmId: '0d6b2c4e-1111-4222-8333-944455556666',
      timestamp: new Date('2026-11-26T08:50:19.528Z'),
    });
  });

  it('keeps multi-word details', () => {
    expect(
      parseVirshEventLine(
        "2026-11-26 08:50:19.514+0000: event 'lifecycle' for domain 'limen-a': Shutdown Finished after host request",
      ),
    ).toMatchObject({
      type: 'shutdown',
      detail: 'finished after host request',
    });
  });

  it('reports other events by name, and foreign domains without vmId', () => {
    const event = parseVirshEventLine("2026-11-26 08:50:15.370+0000: event 'reboot' for domain 'web01'");
    expect(event).toMatchObject({ kind: 'other', name: 'reboot', domainName: 'web01', detail: '' });
    expect(event).not.toHaveProperty('vmId');
  });

  it('reports the guest agent connecting and disconnecting by its state alone', () => {
    for (const state of ['connected', 'disconnected']) {
      const line = `2026-11-26 08:50:15.370+0000: event 'agent-lifecycle' for domain 'limen-a': state: '${state}' reason: 'channel event'`;
      expect(parseVirshEventLine(line)).toMatchObject({
        kind: 'other',
        name: 'agent-lifecycle',
        vmId: 'a',
        detail: state,
      });
    }
  });

  it('honours the timezone offset', () => {
    expect(
      parseVirshEventLine("2026-01-01 10:00:00.000+0200: event 'lifecycle' for domain 'limen-a': Started Booted")
        ?.timestamp,
    ).toEqual(new Date('2026-01-01T08:00:00Z'));
  });

  it('ignores anything else', () => {
    expect(parseVirshEventLine('events received: 3')).toBeUndefined();
    expect(parseVirshEventLine('')).toBeUndefined();
  });
});
