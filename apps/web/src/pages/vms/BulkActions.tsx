import { useMutation } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import type { Vm } from '../../api/queries';
import { api } from '../../auth/session';
import { ErrorLine } from '../../ui/Status';

type BulkAction = 'start' | 'stop';
const APPLIES: Record<BulkAction, (vm: Vm) => boolean> = {
  start: (vm) => vm.state === 'stopped' || vm.state === 'crashed',
  stop: (vm) => vm.state === 'running' || vm.state === 'paused',
};

/** Start or stop every selected VM the action applies to; states then change through the event stream. */
export function BulkActions({ vms, onDone }: { vms: Vm[]; onDone: () => void }) {
  const { t } = useTranslation();
  const run = useMutation({
    mutationFn: async (action: BulkAction) => {
      const targets = vms.filter(APPLIES[action]);
      const results = await Promise.allSettled(
        targets.map(async (vm) =>
          unwrap(
            await api.POST('/api/v1/vms/{id}/actions', {
              params: { path: { id: vm.id } },
              body: { action },
            }),
          ),
        ),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
    onSuccess: onDone,
  });
  return (
    <div className="bulk" role="group" aria-label={t('vms.selected', { count: vms.length })}>
      <span className="muted">{t('vms.selected', { count: vms.length })}</span>
      {(['start', 'stop'] as const).map((action) => (
        <button
          key={action}
          type="button"
          disabled={run.isPending || !vms.some(APPLIES[action])}
          onClick={() => run.mutate(action)}
        >
          {t(`vms.${action}`)}
        </button>
      ))}
      <ErrorLine error={run.error} />
    </div>
  );
}
