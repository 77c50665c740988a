import { useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { streamEvents } from '@limen/sdk';
import { unwrap } from '../../api/problem';
import { accessToken, api, refresh } from '../../auth/session';
import { useUser } from '../../auth/useSession';
import { formatDate } from '../../i18n';
import { AuditTable } from '../../ui/AuditTable';
import { ErrorLine, Loading } from '../../ui/Status';
import { TableScroll } from '../../ui/TableScroll';
import { useDetailVm } from './VmDetailPage';

/** The newest events shown; older ones of a busy VM drop off. */
const KEEP = 200;

/** An event as this tab keeps it: its fields read loosely, each type's summary from what it carries. */
interface VmEvent {
  id: string;
  type: string;
  data: Record<string, unknown>;
}

/** One line about an event: what changed, from the fields its type carries. */
function summary({ type, data }: VmEvent): string {
  if (type === 'operation.updated') return `${String(data.kind)}: ${String(data.status)}`;
  if (type === 'vm.state') return String(data.state) + (data.stateReason ? ` (${String(data.stateReason)})` : '');
  if (typeof data.name === 'string') return data.name;
  return '';
}

/**
 * This VM's events and (for admins) its audit trail. The stream asks for this VM's events only
 * (`vmId`): it replays those still retained from the start (`lastEventId` '0') and stays open for
 * new ones. The audit log is admins-only in the api (403 for others), so only admins get that section.
 */
export function VmActivity() {
  const { t } = useTranslation();
  const vm = useDetailVm();
  const user = useUser();
  const [events, setEvents] = useState<VmEvent[]>([]);
  const [replaying, setReplaying] = useState(true);
  useEffect(() => {
    const stop = new AbortController();
    setEvents([]);
    void (async () => {
      const stream = streamEvents({
        baseUrl: location.origin,
        accessToken,
        lastEventId: '0',
        vmId: vm.id,
        signal: stop.signal,
        onUnauthorized: refresh,
        onConnect: () => setReplaying(false),
      });
      try {
        for await (const next of stream) {
          if (!('id' in next)) continue; // a heartbeat
          const { id, event: type } = next;
          const event = { id, type, data: next.data as Record<string, unknown> };
          setEvents((all) => (all.some((e) => e.id === id) ? all : [event, ...all].slice(0, KEEP)));
        }
      } catch {
        // The session is gone or the api refused the stream: what was read stays shown.
      }
    })();
    return () => stop.abort();
  }, [vm.id]);
  const admin = user?.role === 'admin';
  const audit = useQuery({
    queryKey: ['audit', { targetId: vm.id }],
    enabled: admin,
    queryFn: async () => unwrap(await api.GET('/api/v1/audit', { params: { query: { targetId: vm.id, limit: 100 } } })),
  });
  return (
    <div className="activity">
      <h2 id="events-title">{t('activity.events')}</h2>
      {replaying && events.length === 0 ? (
        <Loading />
      ) : events.length === 0 ? (
        <p className="muted">{t('activity.noEvents')}</p>
      ) : (
        <TableScroll labelledBy="events-title">
          <table aria-labelledby="events-title">
            <thead>
              <tr>
                <th scope="col">{t('audit.at')}</th>
                <th scope="col">{t('activity.type')}</th>
                <th scope="col">{t('activity.detail')}</th>
              </tr>
            </thead>
            <tbody>
              {events.map((event) => (
                <tr key={event.id} data-event={event.type}>
                  <td>{formatDate(event.data.at as string | undefined)}</td>
                  <td>
                    <code>{event.type}</code>
                  </td>
                  <td>{summary(event)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      {admin && (
        <>
          <h2 id="audit-title">{t('activity.audit')}</h2>
          <ErrorLine error={audit.error} />
          {audit.isPending ? (
            <Loading />
          ) : (
            <AuditTable entries={audit.data?.items ?? []} labelledBy="audit-title" showTarget={false} />
          )}
        </>
      )}
    </div>
  );
}
