import { useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { formatDate } from '../../i18n';
import type { Vm } from '../../api/queries';

/** A new picture every 30 s while the tab is visible: enough to see where a guest is, cheap for the host. */
const REFRESH_MS = 30_000;

/**
 * The VM's screen as a thumbnail, fetched with the bearer token (an <img src> could not send it).
 * The PNG becomes a data: URL, not an object URL: the dashboard's CSP (helmet's img-src 'self' data:)
 * does not allow blob: images, and a data: URL needs no revoking when the next one replaces it.
 */
export function VmScreenshot({ vm }: { vm: Vm }) {
  const { t } = useTranslation();
  const shot = useQuery({
    queryKey: ['screenshot', vm.id],
    enabled: vm.state === 'running',
    refetchInterval: REFRESH_MS,
    gcTime: 0,
    queryFn: async ({ signal }) => {
      const png = unwrap(
        await api.GET('/api/v1/vms/{id}/screenshot', { params: { path: { id: vm.id } }, parseAs: 'blob', signal }),
      );
      return {
        url: await new Promise<string>((resolve, reject) => {
          const reader = new FileReader();
          reader.onload = () => resolve(String(reader.result));
          reader.onerror = () => reject(reader.error);
          reader.readAsDataURL(png);
        }),
        at: new Date().toISOString(),
      };
    },
  });
  if (vm.state !== 'running' || !shot.data) return null;
  return (
    <figure className="screenshot">
      <img src={shot.data.url} alt={t('vm.screenshotAlt', { name: vm.name, at: formatDate(shot.data.at) })} />
      <figcaption className="muted">{t('vm.screenshotAt', { at: formatDate(shot.data.at) })}</figcaption>
    </figure>
  );
}
