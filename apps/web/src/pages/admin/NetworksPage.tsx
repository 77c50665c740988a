import type { components } from '@limen/sdk';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { formatDate } from '../../i18n';
import { DeletableTable } from '../../ui/DeletableTable';
import { ErrorLine, Loading } from '../../ui/Status';

type CreateNetwork = components['schemas']['CreateNetworkDto'];
type Kind = CreateNetwork['kind'];
const KINDS: Kind[] = ['nat', 'isolated', 'bridge', 'user'];

/**
 * Networks (admins create and delete them; users only attach VMs to the public ones, so the screen
 * is an admin one). The form sends only the fields the chosen kind takes; the api derives gateway
 * and DHCP range from the subnet, and its problems (overlap, missing bridge) show as they come.
 */
export function NetworksPage() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [form, setForm] = useState({ name: '', kind: 'nat' as Kind, cidr: '', bridge: '', vlan: '', description: '' });
  const [everyone, setEveryone] = useState(true);
  // Same key and page as the create screen's network list, so a change shows there too.
  const networks = useQuery({
    queryKey: ['networks'],
    queryFn: async () => unwrap(await api.GET('/api/v1/networks', { params: { query: { limit: 500 } } })),
  });
  const create = useMutation({
    mutationFn: async () => {
      const body: CreateNetwork = { name: form.name.trim(), kind: form.kind, public: everyone };
      if (form.description.trim()) body.description = form.description.trim();
      if (form.kind === 'nat' || form.kind === 'isolated') body.cidr = form.cidr.trim();
      if (form.kind === 'bridge') {
        body.bridge = form.bridge.trim();
        if (form.vlan) body.vlan = Number(form.vlan);
      }
      return unwrap(await api.POST('/api/v1/networks', { body }));
    },
    onSuccess: () => {
      setForm((now) => ({ ...now, name: '', cidr: '', bridge: '', vlan: '', description: '' }));
      void client.invalidateQueries({ queryKey: ['networks'] });
    },
  });
  const remove = useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE('/api/v1/networks/{id}', { params: { path: { id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['networks'] }),
  });
  const field = (name: keyof typeof form) => ({
    value: form[name],
    onChange: (e: { target: { value: string } }) => setForm((now) => ({ ...now, [name]: e.target.value })),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  if (networks.isPending) return <Loading />;
  const items = networks.data?.items ?? [];
  const routed = form.kind === 'nat' || form.kind === 'isolated';
  return (
    <section aria-labelledby="networks-title" className="admin">
      <h1 id="networks-title">{t('networks.title')}</h1>
      <ErrorLine error={networks.error ?? remove.error} />
      {items.length === 0 ? (
        <p className="muted">{t('networks.none')}</p>
      ) : (
        <DeletableTable
          items={items}
          rowData={(network) => ({ 'data-network': network.name })}
          columns={[
            {
              header: t('networks.name'),
              cell: (network) => (
                <>
                  {network.name}
                  {network.description && <small className="block">{network.description}</small>}
                </>
              ),
            },
            { header: t('networks.kind'), cell: (network) => t(`networks.kinds.${network.kind}`) },
            {
              header: t('networks.cidr'),
              cell: (network) => (
                <>
                  {network.cidr ? <code>{network.cidr}</code> : network.bridge ? <code>{network.bridge}</code> : ''}
                  {network.vlan !== null && <small> VLAN {network.vlan}</small>}
                </>
              ),
            },
            {
              header: t('networks.visibility'),
              className: 'wide',
              cell: (network) => (network.public ? t('networks.everyone') : t('networks.adminsOnly')),
            },
            { header: t('vms.created'), className: 'wide', cell: (network) => formatDate(network.createdAt) },
          ]}
          deleteLabel={(network) => t('networks.delete', { name: network.name })}
          deleteQuestion={(network) => t('networks.deleteQuestion', { name: network.name })}
          deleteDisabled={() => remove.isPending}
          onDelete={(network) => remove.mutate(network.id)}
        />
      )}
      <h2 id="network-new">{t('networks.new')}</h2>
      <form onSubmit={submit} className="stack" aria-labelledby="network-new">
        <label>
          {t('networks.name')}
          <input required maxLength={63} autoComplete="off" {...field('name')} aria-describedby="network-name-hint" />
        </label>
        <small id="network-name-hint">{t('create.nameHint')}</small>
        <label>
          {t('networks.kind')}
          <select value={form.kind} onChange={(e) => setForm((now) => ({ ...now, kind: e.target.value as Kind }))}>
            {KINDS.map((kind) => (
              <option key={kind} value={kind}>
                {t(`networks.kinds.${kind}`)}
              </option>
            ))}
          </select>
        </label>
        {routed && (
          <>
            <label>
              {t('networks.cidr')}
              <input
                required
                className="narrow"
                placeholder="10.77.0.0/24"
                autoComplete="off"
                {...field('cidr')}
                aria-describedby="network-cidr-hint"
              />
            </label>
            <small id="network-cidr-hint">{t('networks.cidrHint')}</small>
          </>
        )}
        {form.kind === 'bridge' && (
          <>
            <label>
              {t('networks.bridge')}
              <input
                required
                className="narrow"
                placeholder="br0"
                {...field('bridge')}
                aria-describedby="network-bridge-hint"
              />
            </label>
            <small id="network-bridge-hint">{t('networks.bridgeHint')}</small>
            <label>
              {t('networks.vlan')}
              <input type="number" min={1} max={4094} className="narrow" {...field('vlan')} />
            </label>
          </>
        )}
        <label>
          {t('networks.description')}
          <input maxLength={1024} {...field('description')} />
        </label>
        <label className="check">
          <input type="checkbox" checked={everyone} onChange={(e) => setEveryone(e.target.checked)} />
          {t('networks.public')}
        </label>
        <div>
          <button type="submit" className="primary" disabled={create.isPending}>
            {t('networks.create')}
          </button>
        </div>
        <ErrorLine error={create.error} />
      </form>
    </section>
  );
}
