import { useMutation, useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { NavLink, Outlet, useNavigate, useOutletContext, useParams } from 'react-router';
import { ApiError, unwrap } from '../../api/problem';
import { useVm, type Vm } from '../../api/queries';
import { api } from '../../auth/session';
import { ConfirmButton } from '../../ui/ConfirmButton';
import { ErrorLine, Loading, StateBadge } from '../../ui/Status';
import { VmScreenshot } from './VmScreenshot';

type Action = 'start' | 'shutdown' | 'stop' | 'reboot';
const ALLOWED: Record<Action, readonly string[]> = {
  start: ['stopped', 'crashed'],
  shutdown: ['running'],
  stop: ['running', 'paused'],
  reboot: ['running'],
};

export const useDetailVm = () => useOutletContext<Vm>();

export function VmDetailPage() {
  const { t } = useTranslation();
  const { id = '' } = useParams();
  const navigate = useNavigate();
  const vm = useVm(id);
  const action = useMutation({
    mutationFn: async (name: Action) =>
      unwrap(await api.POST('/api/v1/vms/{id}/actions', { params: { path: { id } }, body: { action: name } })),
  });
  const remove = useMutation({
    mutationFn: async () => unwrap(await api.DELETE('/api/v1/vms/{id}', { params: { path: { id } } })),
    onSuccess: () => navigate('/vms'),
  });

  if (vm.isPending) return <Loading />;
  if (vm.error instanceof ApiError && vm.error.status === 404) return <p role="alert">{t('vm.notFound')}</p>;
  if (!vm.data) return <ErrorLine error={vm.error} />;
  const v = vm.data;
  const tabs = [
    { to: '', label: t('vm.overview') },
    { to: 'monitor', label: t('vm.monitor') },
    { to: 'snapshots', label: t('vm.snapshots') },
    { to: 'backups', label: t('vm.backups') },
    { to: 'activity', label: t('vm.activity') },
    { to: 'serial', label: t('vm.console') },
    { to: 'vnc', label: t('vm.vnc') },
  ];
  return (
    <section aria-labelledby="vm-title">
      <div className="page-head">
        <h1 id="vm-title">{v.name}</h1>
        <StateBadge state={v.state} />
      </div>
      {v.stateReason && <p className="muted">{v.stateReason}</p>}
      <div className="actions" role="group" aria-label={t('vm.actions')}>
        {(Object.keys(ALLOWED) as Action[]).map((name) => (
          <button
            key={name}
            type="button"
            disabled={action.isPending || !ALLOWED[name].includes(v.state)}
            onClick={() => action.mutate(name)}
          >
            {t(`vms.${name}`)}
          </button>
        ))}
        <ConfirmButton
          danger
          label={t('vms.delete')}
          question={t('vm.confirmDelete', { name: v.name })}
          disabled={remove.isPending || v.state === 'deleting'}
          onConfirm={() => remove.mutate()}
        />
      </div>
      <ErrorLine error={action.error ?? remove.error} />
      <nav className="tabs" aria-label={v.name}>
        {tabs.map((tab) => (
          <NavLink key={tab.to} to={tab.to} end relative="route">
            {tab.label}
          </NavLink>
        ))}
      </nav>
      <Outlet context={v} />
    </section>
  );
}

export function VmOverview() {
  const { t } = useTranslation();
  const vm = useDetailVm();
  const path = { params: { path: { vmId: vm.id } } };
  const nics = useQuery({
    queryKey: ['nics', vm.id],
    queryFn: async () => unwrap(await api.GET('/api/v1/vms/{vmId}/nics', path)),
  });
  const disks = useQuery({
    queryKey: ['disks', vm.id],
    queryFn: async () => unwrap(await api.GET('/api/v1/vms/{vmId}/disks', path)),
  });
  return (
    <div className="overview">
      <div className="overview-top">
        <dl className="facts">
          <dt>{t('vms.size')}</dt>
          <dd>
            {t('vms.vcpus', { count: vm.vcpus })} · {vm.memoryMiB} MiB · {vm.diskGiB} GiB
          </dd>
          <dt>{t('vms.addresses')}</dt>
          <dd>{vm.addresses.map((a) => `${a.ip}/${a.prefix}`).join(', ') || t('vm.none')}</dd>
          <dt>{t('vm.guestAgent')}</dt>
          <dd>{vm.guestAgent}</dd>
        </dl>
        <VmScreenshot vm={vm} />
      </div>
      <h2>{t('vm.nics')}</h2>
      <ErrorLine error={nics.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">{t('vm.mac')}</th>
            <th scope="col">{t('vm.model')}</th>
            <th scope="col">{t('vms.addresses')}</th>
          </tr>
        </thead>
        <tbody>
          {nics.data?.items.map((nic) => (
            <tr key={nic.id}>
              <td>{nic.mac}</td>
              <td>{nic.model}</td>
              <td>{nic.addresses.map((a) => a.ip).join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>{t('vm.disks')}</h2>
      <ErrorLine error={disks.error} />
      <table>
        <thead>
          <tr>
            <th scope="col">{t('vm.position')}</th>
            <th scope="col">{t('vm.bus')}</th>
            <th scope="col">{t('vm.sizeGiB')}</th>
          </tr>
        </thead>
        <tbody>
          {disks.data?.items.map((disk) => (
            <tr key={disk.id}>
              <td>{disk.position}</td>
              <td>{disk.bus}</td>
              <td>{disk.sizeGiB}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
