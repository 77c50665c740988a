import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';

/** A single-use console ticket, and the WebSocket URL it opens (same origin: ws or wss as the page). */
export async function consoleSocketUrl(vmId: string, type: 'serial' | 'vnc'): Promise<string> {
  const ticket = unwrap(await api.POST('/api/v1/vms/{id}/console', { params: { path: { id: vmId } }, body: { type } }));
  const url = new URL(ticket.url, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}
