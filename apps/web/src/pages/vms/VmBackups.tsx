import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { components } from '@limen/sdk';
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { unwrap } from '../../api/problem';
import { useOperation } from '../../api/queries';
import { api } from '../../auth/session';
import { formatBytes, formatDate, formatNumber } from '../../i18n';
import { ConfirmButton } from '../../ui/ConfirmButton';
import { ErrorLine, Loading, OperationLine } from '../../ui/Status';
import { TableScroll } from '../../ui/TableScroll';
import { useDetailVm } from './VmDetailPage';

type Backup = components['schemas']['BackupDto'];

/**
 * A backup's disks, saved one by one. Downloads need the bearer token (the api has no download
 * ticket), so each disk is fetched into a Blob and saved from an object URL: the whole file sits in
 * memory, fine for the small compressed qcow2 files of test and student VMs; for big disks use the
 * CLI or curl, which stream (and resume with Range).
 */
async function download(backup: Backup): Promise<void> {
  const manifest = unwrap(await api.GET('/api/v1/backups/{id}/manifest', { params: { path: { id: backup.id } } }));
  for (const disk of manifest.disks) {
    const file = unwrap(
      await api.GET('/api/v1/backups/{id}/disks/{position}', {
        params: { path: { id: backup.id, position: disk.position } },
        parseAs: 'blob',
      }),
    );
    const url = URL.createObjectURL(file);
    const link = document.createElement('a');
    link.href = url;
    link.download = `${backup.vmName}-${backup.id.slice(0, 8)}-${disk.file}`;
    link.click();
    // The click has handed the Blob to the download by the next task.
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
}

/** Backups of this VM (take, restore, download, delete) and its snapshot/backup schedules. */
export function VmBackups() {
  const { t } = useTranslation();
  const vm = useDetailVm();
  const client = useQueryClient();
  const path = { params: { path: { vmId: vm.id } } };
  const [operationId, setOperationId] = useState<string>();
  const [restoredVm, setRestoredVm] = useState<{ id: string; name: string }>();
  const operation = useOperation(operationId);
  const backups = useQuery({
    queryKey: ['backups', vm.id],
    queryFn: async () =>
      unwrap(
        await api.GET('/api/v1/vms/{vmId}/backups', { ...path, params: { ...path.params, query: { limit: 500 } } }),
      ),
  });
  const accepted = (result: { operation: { id: string } }) => {
    setOperationId(result.operation.id);
    void client.invalidateQueries({ queryKey: ['backups', vm.id] });
  };
  const take = useMutation({
    mutationFn: async () => unwrap(await api.POST('/api/v1/vms/{vmId}/backups', { ...path, body: {} })),
    onSuccess: accepted,
  });
  const restore = useMutation({
    mutationFn: async (input: { id: string; target: 'new' | 'original'; name?: string }) =>
      unwrap(
        await api.POST('/api/v1/backups/{id}/restore', {
          params: { path: { id: input.id } },
          body:
            input.target === 'new'
              ? { target: 'new', ...(input.name ? { name: input.name } : {}) }
              : { target: 'original' },
        }),
      ),
    onSuccess: (result) => {
      setRestoredVm(result.vm.id === vm.id ? undefined : { id: result.vm.id, name: result.vm.name });
      accepted(result);
    },
  });
  const remove = useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE('/api/v1/backups/{id}', { params: { path: { id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['backups', vm.id] }),
  });
  const save = useMutation({ mutationFn: download });

  // The list holds ready backups only: a finished backup (or restore) shows at once.
  const status = operation.data?.status;
  useEffect(() => {
    if (status === 'succeeded' || status === 'failed') void client.invalidateQueries({ queryKey: ['backups', vm.id] });
  }, [status, client, vm.id]);

  return (
    <div>
      <h2>{t('backups.title')}</h2>
      <div className="actions">
        <button type="button" className="primary" disabled={take.isPending} onClick={() => take.mutate()}>
          {t('backups.take')}
        </button>
      </div>
      <OperationLine operation={operation.data} />
      {restoredVm && operation.data?.status === 'succeeded' && (
        <p>
          <Link to={`/vms/${restoredVm.id}`}>{t('backups.openRestored', { name: restoredVm.name })}</Link>
        </p>
      )}
      <ErrorLine error={take.error ?? restore.error ?? remove.error ?? save.error ?? backups.error} />
      {backups.isPending ? (
        <Loading />
      ) : backups.data?.items.length === 0 ? (
        <p className="muted">{t('backups.none')}</p>
      ) : (
        <TableScroll label={t('backups.title')}>
          <table aria-label={t('backups.title')}>
            <thead>
              <tr>
                <th scope="col">{t('vms.created')}</th>
                <th scope="col">{t('backups.size')}</th>
                <th scope="col">{t('backups.consistency')}</th>
                <th scope="col">{t('vms.state')}</th>
                <th scope="col">{t('vm.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {backups.data?.items.map((backup) => (
                <tr key={backup.id} data-backup={backup.id}>
                  <td>{formatDate(backup.createdAt)}</td>
                  <td>{formatBytes(backup.sizeBytes)}</td>
                  <td>{backup.consistency ? t(`backups.${backup.consistency}`) : ''}</td>
                  <td>{backup.state}</td>
                  <td className="cell-actions">
                    <RestoreButton
                      backup={backup}
                      vmStopped={vm.state === 'stopped'}
                      onRestore={(target, name) => restore.mutate({ id: backup.id, target, name })}
                    />
                    <button
                      type="button"
                      disabled={backup.state !== 'ready' || save.isPending}
                      onClick={() => save.mutate(backup)}
                    >
                      {t('backups.download')}
                    </button>
                    <ConfirmButton
                      danger
                      label={t('backups.delete')}
                      question={t('backups.confirmDelete', { at: formatDate(backup.createdAt) })}
                      disabled={backup.state !== 'ready'}
                      onConfirm={() => remove.mutate(backup.id)}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      <VmSchedules />
    </div>
  );
}

/** Restore asks where to: a new VM (named, or the api's default name), or over this VM when it is stopped. */
function RestoreButton(props: {
  backup: Backup;
  vmStopped: boolean;
  onRestore: (target: 'new' | 'original', name?: string) => void;
}) {
  const { t } = useTranslation();
  const dialog = useRef<HTMLDialogElement>(null);
  const [target, setTarget] = useState<'new' | 'original'>('new');
  const id = props.backup.id.slice(0, 8);
  const submit = (event: FormEvent<HTMLFormElement>) => {
    const data = new FormData(event.currentTarget);
    const name = String(data.get('name') ?? '').trim();
    dialog.current?.close();
    event.preventDefault();
    props.onRestore(target, target === 'new' ? name || undefined : undefined);
  };
  return (
    <>
      <button type="button" disabled={props.backup.state !== 'ready'} onClick={() => dialog.current?.showModal()}>
        {t('backups.restore')}
      </button>
      <dialog ref={dialog} aria-labelledby={`restore-${id}`}>
        <form onSubmit={submit} className="stack">
          <h2 id={`restore-${id}`}>{t('backups.restoreTitle', { at: formatDate(props.backup.createdAt) })}</h2>
          <fieldset>
            <legend>{t('backups.target')}</legend>
            <label className="check">
              <input type="radio" name="target" checked={target === 'new'} onChange={() => setTarget('new')} />
              {t('backups.targetNew')}
            </label>
            <label className="check">
              <input
                type="radio"
                name="target"
                checked={target === 'original'}
                disabled={!props.vmStopped}
                onChange={() => setTarget('original')}
              />
              {props.vmStopped ? t('backups.targetOriginal') : t('backups.targetOriginalStopped')}
            </label>
          </fieldset>
          {target === 'new' && (
            <>
              <label htmlFor={`restore-name-${id}`}>{t('backups.newName')}</label>
              <input id={`restore-name-${id}`} name="name" pattern="[a-z0-9][a-z0-9\-]{0,62}" />
            </>
          )}
          <div className="dialog-buttons">
            <button type="button" onClick={() => dialog.current?.close()}>
              {t('vm.cancel')}
            </button>
            <button type="submit" className="primary">
              {t('backups.restore')}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}

/** The VM's schedules: list, create (the api's 400 problem shown as it comes), delete. */
function VmSchedules() {
  const { t } = useTranslation();
  const vm = useDetailVm();
  const client = useQueryClient();
  const path = { params: { path: { vmId: vm.id } } };
  const schedules = useQuery({
    queryKey: ['schedules', vm.id],
    queryFn: async () =>
      unwrap(
        await api.GET('/api/v1/vms/{vmId}/schedules', { ...path, params: { ...path.params, query: { limit: 500 } } }),
      ),
  });
  const refresh = () => client.invalidateQueries({ queryKey: ['schedules', vm.id] });
  const create = useMutation({
    mutationFn: async (body: components['schemas']['CreateScheduleDto']) =>
      unwrap(await api.POST('/api/v1/vms/{vmId}/schedules', { ...path, body })),
    onSuccess: refresh,
  });
  const remove = useMutation({
    mutationFn: async (scheduleId: string) =>
      unwrap(
        await api.DELETE('/api/v1/vms/{vmId}/schedules/{scheduleId}', {
          params: { path: { vmId: vm.id, scheduleId } },
        }),
      ),
    onSuccess: refresh,
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    const number = (name: string) => (data.get(name) ? Number(data.get(name)) : null);
    create.mutate(
      {
        kind: data.get('kind') === 'backup' ? 'backup' : 'snapshot',
        cron: String(data.get('cron')).trim(),
        timeZone: String(data.get('timeZone')).trim() || 'UTC',
        keepLast: number('keepLast'),
        keepDays: number('keepDays'),
      },
      { onSuccess: () => form.reset() },
    );
  };
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return (
    <>
      <h2 id="schedules-title">{t('schedules.title')}</h2>
      <form className="inline-form schedule-form" onSubmit={submit} aria-labelledby="schedules-title">
        <label>
          {t('schedules.kind')}
          <select name="kind" defaultValue="snapshot">
            <option value="snapshot">{t('schedules.snapshot')}</option>
            <option value="backup">{t('schedules.backup')}</option>
          </select>
        </label>
        <label>
          {t('schedules.cron')}
          <input name="cron" required defaultValue="0 3 * * *" aria-describedby="cron-hint" />
        </label>
        <label>
          {t('schedules.timeZone')}
          <input name="timeZone" defaultValue={zone} />
        </label>
        <label>
          {t('schedules.keepLast')}
          <input name="keepLast" type="number" min={1} max={1000} className="narrow-number" />
        </label>
        <label>
          {t('schedules.keepDays')}
          <input name="keepDays" type="number" min={1} max={3650} className="narrow-number" />
        </label>
        <button type="submit" className="primary" disabled={create.isPending}>
          {t('schedules.create')}
        </button>
      </form>
      <p id="cron-hint" className="muted">
        {t('schedules.cronHint')}
      </p>
      <ErrorLine error={create.error ?? remove.error ?? schedules.error} />
      {schedules.isPending ? (
        <Loading />
      ) : schedules.data?.items.length === 0 ? (
        <p className="muted">{t('schedules.none')}</p>
      ) : (
        <TableScroll labelledBy="schedules-title">
          <table aria-labelledby="schedules-title">
            <thead>
              <tr>
                <th scope="col">{t('schedules.kind')}</th>
                <th scope="col">{t('schedules.cron')}</th>
                <th scope="col">{t('schedules.keep')}</th>
                <th scope="col">{t('schedules.next')}</th>
                <th scope="col">{t('schedules.last')}</th>
                <th scope="col">{t('vm.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {schedules.data?.items.map((schedule) => (
                <tr key={schedule.id} data-schedule={schedule.cron}>
                  <td>{t(`schedules.${schedule.kind}`)}</td>
                  <td>
                    <code>{schedule.cron}</code> ({schedule.timeZone})
                  </td>
                  <td>
                    {[
                      schedule.keepLast !== null
                        ? t('schedules.keepLastValue', { n: formatNumber(schedule.keepLast) })
                        : '',
                      schedule.keepDays !== null
                        ? t('schedules.keepDaysValue', { n: formatNumber(schedule.keepDays) })
                        : '',
                    ]
                      .filter(Boolean)
                      .join(', ') || t('schedules.keepAll')}
                  </td>
                  <td>{schedule.enabled ? formatDate(schedule.nextRunAt) : t('schedules.disabled')}</td>
                  <td>
                    {formatDate(schedule.lastRunAt)}
                    {schedule.lastError ? <span className="error"> {schedule.lastError}</span> : ''}
                  </td>
                  <td>
                    <ConfirmButton
                      danger
                      label={t('schedules.delete', { cron: schedule.cron })}
                      question={t('schedules.confirmDelete', { cron: schedule.cron })}
                      onConfirm={() => remove.mutate(schedule.id)}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
    </>
  );
}
