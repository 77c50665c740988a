import { useVirtualizer } from '@tanstack/react-virtual';
import { useMemo, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { useUsers, useVms, type Vm } from '../../api/queries';
import { useUser } from '../../auth/useSession';
import { formatDate } from '../../i18n';
import { ErrorLine, Loading, StateBadge } from '../../ui/Status';
import { BulkActions } from './BulkActions';

const STATES = ['running', 'stopped', 'paused', 'provisioning', 'crashed', 'error', 'missing', 'deleting', 'unknown'];
const ROW_HEIGHT = 48;

export function VmListPage() {
  const { t } = useTranslation();
  const admin = useUser()?.role === 'admin';
  const vms = useVms();
  const users = useUsers(admin);
  const [name, setName] = useState('');
  const [state, setState] = useState('');
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());

  const owners = useMemo(() => new Map(users.data?.map((u) => [u.id, u.username])), [users.data]);
  const shown = useMemo(
    () =>
      (vms.data ?? []).filter(
        (vm) => (!state || vm.state === state) && (!name || vm.name.includes(name.trim().toLowerCase())),
      ),
    [vms.data, name, state],
  );
  const toggle = (id: string) =>
    setSelected((current) => {
      const next = new Set(current);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  const allShown = shown.length > 0 && shown.every((vm) => selected.has(vm.id));

  return (
    <section aria-labelledby="vms-title">
      <div className="page-head">
        <h1 id="vms-title">{t('vms.title')}</h1>
        <Link className="button primary" to="/vms/new">
          {t('nav.create')}
        </Link>
      </div>
      <div className="filters">
        <label>
          {t('vms.filterName')}
          <input type="search" value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          {t('vms.filterState')}
          <select value={state} onChange={(e) => setState(e.target.value)}>
            <option value="">{t('vms.all')}</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {t(`state.${s}`)}
              </option>
            ))}
          </select>
        </label>
        <span className="muted">{t('vms.count', { count: shown.length })}</span>
      </div>
      <BulkActions vms={(vms.data ?? []).filter((vm) => selected.has(vm.id))} onDone={() => setSelected(new Set())} />
      {vms.isPending ? (
        <Loading />
      ) : vms.error ? (
        <ErrorLine error={vms.error} />
      ) : shown.length === 0 ? (
        <p>{t('vms.empty')}</p>
      ) : (
        <VmTable
          vms={shown}
          owners={admin ? owners : undefined}
          selected={selected}
          toggle={toggle}
          allShown={allShown}
          toggleAll={() => setSelected(allShown ? new Set() : new Set(shown.map((vm) => vm.id)))}
        />
      )}
    </section>
  );
}

interface TableProps {
  vms: Vm[];
  owners?: Map<string, string>;
  selected: ReadonlySet<string>;
  toggle: (id: string) => void;
  allShown: boolean;
  toggleAll: () => void;
}

/** Only the rows in view are in the DOM (@tanstack/react-virtual), so thousands of VMs scroll smoothly. */
function VmTable({ vms, owners, selected, toggle, allShown, toggleAll }: TableProps) {
  const { t } = useTranslation();
  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({
    count: vms.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
  });
  const cls = owners ? 'vm-row with-owner' : 'vm-row';
  return (
    <div role="table" aria-label={t('vms.title')} aria-rowcount={vms.length + 1} className="vm-table">
      <div role="rowgroup">
        <div role="row" className={`${cls} head`} aria-rowindex={1}>
          <span role="columnheader">
            <input type="checkbox" checked={allShown} onChange={toggleAll} aria-label={t('vms.selectAll')} />
          </span>
          <span role="columnheader">{t('vms.name')}</span>
          <span role="columnheader">{t('vms.state')}</span>
          {owners && <span role="columnheader">{t('vms.owner')}</span>}
          <span role="columnheader" className="wide">
            {t('vms.size')}
          </span>
          <span role="columnheader" className="wide">
            {t('vms.addresses')}
          </span>
          <span role="columnheader" className="wide">
            {t('vms.created')}
          </span>
        </div>
      </div>
      <div role="rowgroup" ref={scroller} className="vm-scroll">
        <div style={{ height: virtual.getTotalSize(), position: 'relative' }}>
          {virtual.getVirtualItems().map((item) => {
            const vm = vms[item.index];
            return (
              <div
                role="row"
                key={vm.id}
                aria-rowindex={item.index + 2}
                className={cls}
                data-vm={vm.name}
                style={{ position: 'absolute', top: 0, left: 0, right: 0, transform: `translateY(${item.start}px)` }}
              >
                <span role="cell">
                  <input
                    type="checkbox"
                    checked={selected.has(vm.id)}
                    onChange={() => toggle(vm.id)}
                    aria-label={t('vms.select', { name: vm.name })}
                  />
                </span>
                <span role="cell" className="name">
                  <Link to={`/vms/${vm.id}`}>{vm.name}</Link>
                </span>
                <span role="cell">
                  <StateBadge state={vm.state} />
                </span>
                {owners && <span role="cell">{owners.get(vm.ownerId) ?? vm.ownerId.slice(0, 8)}</span>}
                <span role="cell" className="wide">
                  {t('vms.vcpus', { count: vm.vcpus })} · {vm.memoryMiB} MiB · {vm.diskGiB} GiB
                </span>
                <span role="cell" className="wide">
                  {vm.addresses.map((a) => a.ip).join(', ')}
                </span>
                <span role="cell" className="wide">
                  {formatDate(vm.createdAt)}
                </span>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
