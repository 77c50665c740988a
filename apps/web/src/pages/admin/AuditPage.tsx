import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { AuditTable } from '../../ui/AuditTable';
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
      {entries.isPending ? <Loading /> : <AuditTable entries={entries.data?.items ?? []} labelledBy="audit-title" />}
    </section>
  );
}
