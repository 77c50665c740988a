import { useMutation, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { useOperation } from '../../api/queries';
import { api } from '../../auth/session';
import { formatDate } from '../../i18n';
import { ConfirmButton } from '../../ui/ConfirmButton';
import { ErrorLine, Loading, OperationLine } from '../../ui/Status';
import { useDetailVm } from './VmDetailPage';

/** Take, revert and delete snapshots; each is an operation whose progress shows until it ends. */
export function VmSnapshots() {
  const { t } = useTranslation();
  const vm = useDetailVm();
  const path = { params: { path: { vmId: vm.id } } };
  const [operationId, setOperationId] = useState<string>();
  const operation = useOperation(operationId);
  const snapshots = useQuery({
    queryKey: ['snapshots', vm.id],
    queryFn: async () =>
      unwrap(
        await api.GET('/api/v1/vms/{vmId}/snapshots', { ...path, params: { ...path.params, query: { limit: 500 } } }),
      ),
  });
  const take = useMutation({
    mutationFn: async (name: string) =>
      unwrap(await api.POST('/api/v1/vms/{vmId}/snapshots', { ...path, body: { name } })),
    onSuccess: (accepted) => setOperationId(accepted.operation.id),
  });
  const revert = useMutation({
    mutationFn: async (snapshotId: string) =>
      unwrap(
        await api.POST('/api/v1/vms/{vmId}/snapshots/{snapshotId}/revert', {
          params: { path: { vmId: vm.id, snapshotId } },
        }),
      ),
    onSuccess: (accepted) => setOperationId(accepted.operation.id),
  });
  const remove = useMutation({
    mutationFn: async (snapshotId: string) =>
      unwrap(
        await api.DELETE('/api/v1/vms/{vmId}/snapshots/{snapshotId}', {
          params: { path: { vmId: vm.id, snapshotId } },
        }),
      ),
    onSuccess: (accepted) => setOperationId(accepted.operation.id),
  });

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    take.mutate(String(new FormData(form).get('name')), { onSuccess: () => form.reset() });
  };
  return (
    <div>
      <form className="inline-form" onSubmit={submit}>
        <label htmlFor="snapshot-name">{t('vm.snapshotName')}</label>
        <input id="snapshot-name" name="name" required pattern="[a-z0-9][a-z0-9\-]{0,62}" />
        <button type="submit" className="primary" disabled={take.isPending}>
          {t('vm.takeSnapshot')}
        </button>
      </form>
      <OperationLine operation={operation.data} />
      <ErrorLine error={take.error ?? revert.error ?? remove.error ?? snapshots.error} />
      {snapshots.isPending ? (
        <Loading />
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{t('vms.name')}</th>
              <th scope="col">{t('vms.state')}</th>
              <th scope="col">{t('vms.created')}</th>
              <th scope="col">{t('vm.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {snapshots.data?.items.map((snapshot) => (
              <tr key={snapshot.id} data-snapshot={snapshot.name}>
                <td>{snapshot.name}</td>
                <td>{snapshot.state}</td>
                <td>{formatDate(snapshot.createdAt)}</td>
                <td className="cell-actions">
                  <ConfirmButton
                    label={`${t('vm.revert')} ${snapshot.name}`}
                    question={t('vm.confirmRevert', { vm: vm.name, name: snapshot.name })}
                    onConfirm={() => revert.mutate(snapshot.id)}
                    disabled={snapshot.state !== 'ready'}
                  />
                  <ConfirmButton
                    danger
                    label={`${t('vm.deleteSnapshot')} ${snapshot.name}`}
                    question={`${t('vm.deleteSnapshot')} ${snapshot.name}?`}
                    onConfirm={() => remove.mutate(snapshot.id)}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
