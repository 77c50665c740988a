/** Lifecycle transitions, named after libvirt's VIR_DOMAIN_EVENT_* kinds. */
export type LifecycleEventType =
  'defined' | 'undefined' | 'started' | 'suspended' | 'resumed' | 'stopped' | 'shutdown' | 'pmsuspended' | 'crashed';

export interface LifecycleEvent {
  kind: 'lifecycle';
  domainName: string;
  /** Set when the domain name is a LIMEN name (`limen-<vmId>`). */
  vmId?: string;
  type: LifecycleEventType;
  /** Why, e.g. `destroyed`, `shutdown`, `booted`, `paused` (lower-case, as libvirt details it). */
  detail: string;
  timestamp: Date;
}

/** Any non-lifecycle event (reboot, rtc-change, tray-change, balloon-change...). */
export interface OtherDomainEvent {
  kind: 'other';
  domainName: string;
  vmId?: string;
  /** The hypervisor's event name, e.g. `reboot`, `tray-change`. */
  name: string;
  detail: string;
  timestamp: Date;
}

/**
 * The event source restarted (its process died or the connection dropped). Events may have been
 * lost in between, so consumers must re-read the full state.
 */
export interface ResyncNeededEvent {
  kind: 'resync-needed';
  reason: string;
  timestamp: Date;
}

export type DomainEvent = LifecycleEvent | OtherDomainEvent | ResyncNeededEvent;
