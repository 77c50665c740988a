import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { formatNumber } from '../../i18n';
import { ErrorLine, Loading } from '../../ui/Status';

/** A capacity bar: what the host's VMs are given against what it has (a native <meter>). */
function Capacity({ label, used, total }: { label: string; used: number; total: number | null }) {
  if (!total) return <span>{formatNumber(used)}</span>;
  return (
    <span className="capacity">
      <meter min={0} max={total} high={total * 0.85} value={Math.min(used, total)} aria-label={label} />{' '}
      {formatNumber(used)} / {formatNumber(total)}
    </span>
  );
}

/** Hypervisor hosts: status, allocation against capacity, and maintenance on or off. */
export function HostsPage() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const hosts = useQuery({
    queryKey: ['hosts'],
    queryFn: async () => unwrap(await api.GET('/api/v1/hosts', { params: { query: { limit: 500 } } })),
  });
  const maintain = useMutation({
    mutationFn: async ({ id, maintenance }: { id: string; maintenance: boolean }) =>
      unwrap(await api.PATCH('/api/v1/hosts/{id}', { params: { path: { id } }, body: { maintenance } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['hosts'] }),
  });
  if (hosts.isPending) return <Loading />;
  return (
    <section aria-labelledby="hosts-title" className="admin">
      <h1 id="hosts-title">{t('hosts.title')}</h1>
      <ErrorLine error={hosts.error ?? maintain.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">{t('vms.name')}</th>
            <th scope="col">{t('vms.state')}</th>
            <th scope="col">vCPU</th>
            <th scope="col">{t('hosts.memory')}</th>
            <th scope="col">{t('hosts.vms')}</th>
            <th scope="col">{t('vm.actions')}</th>
          </tr>
        </thead>
        <tbody>
          {(hosts.data?.items ?? []).map((host) => (
            <tr key={host.id} data-host={host.name}>
              <td>{host.name}</td>
              <td>
                <span className={`badge state-${host.status === 'up' ? 'running' : 'error'}`}>{host.status}</span>
                {host.maintenance && <small> {t('hosts.inMaintenance')}</small>}
              </td>
              <td>
                <Capacity label={`vCPU ${host.name}`} used={host.allocated?.vcpus ?? 0} total={host.cpus} />
              </td>
              <td>
                <Capacity
                  label={`${t('hosts.memory')} ${host.name}`}
                  used={host.allocated?.memoryMiB ?? 0}
                  total={host.memoryMiB}
                />
              </td>
              <td>{formatNumber(host.allocated?.vms ?? 0)}</td>
              <td>
                <button
                  type="button"
                  disabled={maintain.isPending}
                  onClick={() => maintain.mutate({ id: host.id, maintenance: !host.maintenance })}
                >
                  {host.maintenance ? t('hosts.endMaintenance') : t('hosts.startMaintenance')}
                  <span className="sr-only"> {host.name}</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
