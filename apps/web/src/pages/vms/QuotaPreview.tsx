import { useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { formatNumber } from '../../i18n';
import { ErrorLine } from '../../ui/Status';

export interface Request {
  vcpus: number;
  memoryMiB: number;
  diskGiB: number;
}

const RESOURCES = ['vms', 'vcpus', 'memoryMiB', 'diskGiB'] as const;

/** The caller's quota before submitting: used, limit, and what this VM would bring it to. */
export function QuotaPreview({ request }: { request: Request }) {
  const { t } = useTranslation();
  const quota = useQuery({ queryKey: ['quota'], queryFn: async () => unwrap(await api.GET('/api/v1/quota')) });
  if (!quota.data) return <ErrorLine error={quota.error} />;
  const { limits, usage } = quota.data;
  const adds = { vms: 1, ...request };
  const over = RESOURCES.some((r) => usage[r] + adds[r] > limits[r]);
  return (
    <section className="quota" aria-labelledby="quota-title">
      <h2 id="quota-title">{t('create.quota')}</h2>
      <table>
        <thead>
          <tr>
            <th scope="col" />
            <th scope="col">{t('create.quota')}</th>
            <th scope="col">{t('create.after')}</th>
          </tr>
        </thead>
        <tbody>
          {RESOURCES.map((r) => (
            <tr key={r} className={usage[r] + adds[r] > limits[r] ? 'over' : undefined}>
              <th scope="row">{t(`create.resource.${r}`)}</th>
              <td>{t('create.used', { used: formatNumber(usage[r]), limit: formatNumber(limits[r]) })}</td>
              <td>
                <meter
                  min={0}
                  max={limits[r]}
                  value={usage[r] + adds[r]}
                  aria-label={`${t('create.after')}: ${t(`create.resource.${r}`)}`}
                />{' '}
                {formatNumber(usage[r] + adds[r])}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {over && (
        <p role="alert" className="error">
          {t('create.overQuota')}
        </p>
      )}
    </section>
  );
}
