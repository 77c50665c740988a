import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { formatDate } from '../../i18n';
import { ErrorLine, Loading } from '../../ui/Status';

/** The audit log, newest first, filtered by action and by a time window (the api's own filters). */
export function AuditPage() {
  const { t } = useTranslation();
  const [action, setAction] = useState('');
  const [from, setFrom] = useState('');
  const query = {
    limit: 200,
    ...(action ? { action } : {}),
    ...(from ? { from: new Date(from).toISOString() } : {}),
  };
  const entries = useQuery({
    queryKey: ['audit', query],
    queryFn: async () => unwrap(await api.GET('/api/v1/audit', { params: { query } })),
  });
  return (
    <section aria-labelledby="audit-title" className="admin">
      <h1 id="audit-title">{t('audit.title')}</h1>
      <div className="filters">
        <label>
          {t('audit.action')}
          <input value={action} onChange={(e) => setAction(e.target.value.trim())} placeholder="vm.create" />
        </label>
        <label>
          {t('audit.from')}
          <input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
        </label>
      </div>
      <ErrorLine error={entries.error} />
      {entries.isPending ? (
        <Loading />
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{t('audit.at')}</th>
              <th scope="col">{t('audit.actor')}</th>
              <th scope="col">{t('audit.action')}</th>
              <th scope="col">{t('audit.target')}</th>
              <th scope="col">{t('audit.result')}</th>
            </tr>
          </thead>
          <tbody>
            {(entries.data?.items ?? []).map((entry) => (
              <tr key={entry.id} data-action={entry.action}>
                <td>{formatDate(entry.at)}</td>
                <td>{entry.actorUsername ?? ''}</td>
                <td>
                  <code>{entry.action}</code>
                </td>
                <td>{entry.targetType ? `${entry.targetType} ${entry.targetId?.slice(0, 8) ?? ''}` : ''}</td>
                <td>
                  {entry.result}
                  {entry.errorCode ? ` (${entry.errorCode})` : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
