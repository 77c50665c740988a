import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { formatDate, formatNumber } from '../../i18n';
import { ErrorLine, Loading } from '../../ui/Status';

/** The firing list (kept current by alert.* events) with acknowledge. */
export function AlertsPage() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const alerts = useQuery({
    queryKey: ['alerts', 'firing'],
    queryFn: async () =>
      unwrap(await api.GET('/api/v1/alerts', { params: { query: { state: 'firing', limit: 500 } } })),
  });
  const ack = useMutation({
    mutationFn: async (id: string) => unwrap(await api.POST('/api/v1/alerts/{id}/ack', { params: { path: { id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['alerts'] }),
  });
  if (alerts.isPending) return <Loading />;
  const items = alerts.data?.items ?? [];
  return (
    <section aria-labelledby="alerts-title">
      <h1 id="alerts-title">{t('alerts.title')}</h1>
      <h2>{t('alerts.firing')}</h2>
      <ErrorLine error={alerts.error ?? ack.error} />
      {items.length === 0 ? (
        <p className="muted">{t('alerts.none')}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{t('alerts.rule')}</th>
              <th scope="col">{t('alerts.severity')}</th>
              <th scope="col">{t('alerts.subject')}</th>
              <th scope="col">{t('alerts.value')}</th>
              <th scope="col">{t('alerts.since')}</th>
              <th scope="col">{t('vm.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((alert) => (
              <tr key={alert.id} data-alert={alert.ruleName}>
                <td>{alert.ruleName}</td>
                <td>
                  <span className={`badge severity-${alert.severity}`}>{alert.severity}</span>
                </td>
                <td>{alert.subject ?? ''}</td>
                <td>{formatNumber(alert.value)}</td>
                <td>{formatDate(alert.firedAt)}</td>
                <td>
                  {alert.ackedAt ? (
                    <span role="status">{t('alerts.acked', { by: alert.ackedBy ?? '' })}</span>
                  ) : (
                    <button type="button" disabled={ack.isPending} onClick={() => ack.mutate(alert.id)}>
                      {t('alerts.ack')} <span className="sr-only">{alert.ruleName}</span>
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
