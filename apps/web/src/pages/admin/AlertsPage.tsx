import type { components } from '@limen/sdk';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { NavLink, Outlet } from 'react-router';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { formatDate, formatNumber } from '../../i18n';
import { ErrorLine, Loading } from '../../ui/Status';

type Alert = components['schemas']['AlertDto'];

/** Alerts: the firing list, the rules and the channels, as tabs under one heading. */
export function AlertsPage() {
  const { t } = useTranslation();
  const tabs = [
    { to: '/admin/alerts', label: t('alerts.firing') },
    { to: '/admin/alerts/rules', label: t('alerts.rules') },
    { to: '/admin/alerts/channels', label: t('alerts.channels') },
  ];
  return (
    <section aria-labelledby="alerts-title" className="admin">
      <h1 id="alerts-title">{t('alerts.title')}</h1>
      <nav className="tabs" aria-label={t('alerts.tabs')}>
        {tabs.map((tab) => (
          <NavLink key={tab.to} to={tab.to} end>
            {tab.label}
          </NavLink>
        ))}
      </nav>
      <Outlet />
    </section>
  );
}

/** How long a silence lasts, in minutes (the api's `forMinutes`). */
const DURATIONS = [60, 240, 1440, 10080] as const;

/** Silence a firing alert's rule and subject for a chosen time, or lift the silence. */
function Silence({ alert }: { alert: Alert }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [minutes, setMinutes] = useState<number>(DURATIONS[0]);
  const done = () => client.invalidateQueries({ queryKey: ['alerts'] });
  const silence = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST('/api/v1/alerts/{id}/silence', {
          params: { path: { id: alert.id } },
          body: { forMinutes: minutes },
        }),
      ),
    onSuccess: done,
  });
  const lift = useMutation({
    mutationFn: async () =>
      unwrap(await api.DELETE('/api/v1/alerts/{id}/silence', { params: { path: { id: alert.id } } })),
    onSuccess: done,
  });
  const silenced = alert.silencedUntil && new Date(alert.silencedUntil) > new Date();
  return (
    <div className="silence">
      {silenced ? (
        <>
          <span data-silenced>{t('alerts.silenced', { until: formatDate(alert.silencedUntil) })}</span>
          <button type="button" disabled={lift.isPending} onClick={() => lift.mutate()}>
            {t('alerts.unsilence')} <span className="sr-only">{alert.ruleName}</span>
          </button>
        </>
      ) : (
        <>
          <select
            aria-label={t('alerts.silenceFor', { name: alert.ruleName })}
            value={minutes}
            onChange={(e) => setMinutes(Number(e.target.value))}
          >
            {DURATIONS.map((m) => (
              <option key={m} value={m}>
                {t(`alerts.durations.m${m}`)}
              </option>
            ))}
          </select>
          <button type="button" disabled={silence.isPending} onClick={() => silence.mutate()}>
            {t('alerts.silence')} <span className="sr-only">{alert.ruleName}</span>
          </button>
        </>
      )}
      <ErrorLine error={silence.error ?? lift.error} />
    </div>
  );
}

/** The firing list (kept current by alert.* events) with acknowledge and silence. */
export function FiringAlerts() {
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
    <>
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
              <th scope="col" className="wide">
                {t('alerts.subject')}
              </th>
              <th scope="col" className="wide">
                {t('alerts.value')}
              </th>
              <th scope="col" className="wide">
                {t('alerts.since')}
              </th>
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
                <td className="wide">{alert.subject ?? ''}</td>
                <td className="wide">{formatNumber(alert.value)}</td>
                <td className="wide">{formatDate(alert.firedAt)}</td>
                <td>
                  <div className="cell-actions">
                    {alert.ackedAt ? (
                      <span role="status">{t('alerts.acked', { by: alert.ackedBy ?? '' })}</span>
                    ) : (
                      <button type="button" disabled={ack.isPending} onClick={() => ack.mutate(alert.id)}>
                        {t('alerts.ack')} <span className="sr-only">{alert.ruleName}</span>
                      </button>
                    )}
                    <Silence alert={alert} />
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
