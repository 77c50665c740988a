import type { ReferenceObject, SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import type { Request, Response } from 'express';
import type { Observable } from 'rxjs';
import type { EventType } from './event-types';
import type { DeliveredEvent } from './events.service';

const uuid = { type: 'string', format: 'uuid' };
const text = { type: 'string' };
const nullableText = { type: ['string', 'null'] };
const ref = (name: string): ReferenceObject => ({ $ref: `#/components/schemas/${name}` });

/** One logged event of each type: its `event:` name, its `id:` and its `data:`, the payload with its type and time. */
function eventSchema(type: string, data: SchemaObject | ReferenceObject): SchemaObject {
  const envelope: SchemaObject = {
    type: 'object',
    required: ['type', 'at'],
    properties: { type: { enum: [type] }, at: { type: 'string', format: 'date-time' } },
  };
  return {
    type: 'object',
    title: type,
    required: ['event', 'id', 'data'],
    properties: {
      event: { enum: [type] },
      id: { type: 'string', pattern: '^\\d+$' },
      data: { allOf: [envelope, data] },
    },
  };
}

/** Heartbeats are not logged: no id, and only the time in their data. */
const HEARTBEAT_SCHEMA: SchemaObject = {
  type: 'object',
  title: 'heartbeat',
  required: ['event', 'data'],
  properties: {
    event: { enum: ['heartbeat'] },
    data: { type: 'object', required: ['at'], properties: { at: { type: 'string', format: 'date-time' } } },
  },
};

const vmStateData: SchemaObject = {
  type: 'object',
  required: ['vmId', 'state'],
  properties: { vmId: uuid, state: text, stateReason: nullableText, version: { type: 'integer' } },
};
const alertData: SchemaObject = { type: 'object', required: ['alert'], properties: { alert: ref('AlertDto') } };

/**
 * The `data` of each logged event type, for the spec: one entry per type of the catalogue
 * (EventPayloads), which the compiler holds it to (a type added there must be described here).
 */
export const EVENT_DATA_SCHEMAS: { [T in EventType]: SchemaObject | ReferenceObject } = {
  'vm.created': ref('VmDto'),
  'vm.state': vmStateData,
  'vm.updated': vmStateData,
  'vm.deleted': { type: 'object', required: ['vmId', 'name'], properties: { vmId: uuid, name: text } },
  'vm.nic.added': { type: 'object', required: ['vmId', 'nic'], properties: { vmId: uuid, nic: ref('NicDto') } },
  'vm.nic.removed': { type: 'object', required: ['vmId', 'nicId'], properties: { vmId: uuid, nicId: uuid } },
  'vm.disk.added': { type: 'object', required: ['vmId', 'disk'], properties: { vmId: uuid, disk: ref('DiskDto') } },
  'vm.disk.removed': { type: 'object', required: ['vmId', 'diskId'], properties: { vmId: uuid, diskId: uuid } },
  'vm.disk.resized': { type: 'object', required: ['vmId', 'disk'], properties: { vmId: uuid, disk: ref('DiskDto') } },
  'vm.addresses': {
    type: 'object',
    required: ['vmId', 'addresses', 'guestAgent', 'os', 'version'],
    properties: {
      vmId: uuid,
      addresses: { type: 'array', items: ref('VmAddressDto') },
      guestAgent: { enum: ['connected', 'disconnected', 'absent'] },
      os: { anyOf: [ref('GuestOsDto'), { type: 'null' }] },
      version: { type: 'integer' },
    },
  },
  'operation.updated': {
    type: 'object',
    required: ['id', 'kind', 'status', 'vmId', 'error'],
    properties: {
      id: uuid,
      kind: text,
      status: text,
      vmId: { type: ['string', 'null'], format: 'uuid' },
      error: { anyOf: [ref('OperationErrorDto'), { type: 'null' }] },
    },
  },
  'snapshot.created': ref('SnapshotDto'),
  'snapshot.reverted': ref('SnapshotDto'),
  'snapshot.deleted': {
    type: 'object',
    required: ['id', 'vmId', 'name'],
    properties: { id: uuid, vmId: uuid, name: text },
  },
  'backup.created': ref('BackupDto'),
  'backup.deleted': {
    type: 'object',
    required: ['id', 'vmId'],
    properties: { id: uuid, vmId: { type: ['string', 'null'], format: 'uuid' } },
  },
  'backup.restored': { type: 'object', required: ['backupId', 'vmId'], properties: { backupId: uuid, vmId: uuid } },
  'image.created': ref('ImageDto'),
  'host.up': { type: 'object', required: ['hostId', 'name'], properties: { hostId: uuid, name: text } },
  'host.down': {
    type: 'object',
    required: ['hostId', 'name'],
    properties: { hostId: uuid, name: text, reason: text },
  },
  'alert.firing': alertData,
  'alert.resolved': alertData,
  'alert.acked': {
    type: 'object',
    required: ['alert', 'by'],
    properties: {
      alert: ref('AlertDto'),
      by: { type: 'object', required: ['id', 'username'], properties: { id: uuid, username: text } },
    },
  },
};

/** What the stream carries, for the spec: heartbeats, and each logged event type with its data. */
export const EVENT_STREAM_SCHEMA: SchemaObject = {
  oneOf: [HEARTBEAT_SCHEMA, ...Object.entries(EVENT_DATA_SCHEMAS).map(([type, data]) => eventSchema(type, data))],
};

/**
 * Characters of events that may wait for a client that does not read them. Past this, the
 * connection is dropped rather than buffered without bound; the client resumes with Last-Event-ID.
 */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;

/** One `text/event-stream` block; `id` is left out when absent, so the client's last event id stays as it was. */
function formatEvent(type: string, data: unknown, id?: string): string {
  return `event: ${type}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`;
}

/**
 * Serves `events` as Server-Sent Events on `res`, until the client leaves or `events` completes
 * (then the response ends). Written by hand rather than with Nest's @Sse(): that one gives every
 * event without an id the next value of a per-connection counter, so heartbeats carried ids
 * (1, 2, …) unrelated to the event log, and a client resuming after one either replayed events it
 * had (Last-Event-ID below the log's ids) or skipped some (above them).
 *
 * A `heartbeat` event without id is sent at once, so the client knows it is subscribed before
 * anything happens, and every `heartbeatMs`, so proxies keep an idle stream open.
 */
export function sendEventStream(
  req: Request,
  res: Response,
  events: Observable<DeliveredEvent>,
  heartbeatMs: number,
): void {
  req.socket.setNoDelay(true);
  req.socket.setKeepAlive(true);
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'private, no-cache, no-store, must-revalidate, max-age=0, no-transform',
    Connection: 'keep-alive',
    // nginx would otherwise buffer the stream.
    'X-Accel-Buffering': 'no',
  });
  const write = (chunk: string) => {
    if (res.writableEnded || res.destroyed) return;
    res.write(chunk);
    if (res.writableLength > MAX_PENDING_BYTES) res.destroy();
  };
  const heartbeat = () => write(formatEvent('heartbeat', { at: new Date().toISOString() }));
  heartbeat();
  const heartbeats = setInterval(heartbeat, heartbeatMs);
  const subscription = events.subscribe({
    next: (event) => write(formatEvent(event.type, event.data, event.id)),
    complete: () => res.end(),
    error: () => res.destroy(),
  });
  const stop = () => {
    clearInterval(heartbeats);
    subscription.unsubscribe();
  };
  // A client that left while the stream was being set up has already closed the socket.
  if (req.socket.destroyed) stop();
  else res.once('close', stop);
}
