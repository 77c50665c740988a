import { useMutation, useQuery } from '@tanstack/react-query';
import type { components } from '@limen/sdk';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { unwrap } from '../../api/problem';
import { useOperation } from '../../api/queries';
import { api } from '../../auth/session';
import { ErrorLine, Loading } from '../../ui/Status';
import { QuotaPreview, type Request } from './QuotaPreview';

type CreateVm = components['schemas']['CreateVmDto'];
const list = { params: { query: { limit: 500 } } } as const;

export function CreateVmPage() {
  const { t } = useTranslation();
  const images = useQuery({ queryKey: ['images'], queryFn: async () => unwrap(await api.GET('/api/v1/images', list)) });
  const networks = useQuery({
    queryKey: ['networks'],
    queryFn: async () => unwrap(await api.GET('/api/v1/networks', list)),
  });
  const keys = useQuery({
    queryKey: ['ssh-keys'],
    queryFn: async () => unwrap(await api.GET('/api/v1/ssh-keys', list)),
  });
  const [size, setSize] = useState<Request>({ vcpus: 1, memoryMiB: 512, diskGiB: 2 });
  const create = useMutation({
    mutationFn: async (body: CreateVm) => unwrap(await api.POST('/api/v1/vms', { body })),
  });
  const operation = useOperation(create.data?.operation.id);

  if (images.isPending || networks.isPending || keys.isPending) return <Loading />;
  const available = (images.data?.items ?? []).filter((image) => image.available && image.state !== 'creating');

  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const networkIds = form.getAll('networks').map(String);
    const userData = String(form.get('userData') ?? '').trim();
    const sshKeyIds = form.getAll('sshKeyIds').map(String);
    create.mutate({
      name: String(form.get('name')),
      imageId: String(form.get('imageId')),
      ...size,
      start: form.get('start') === 'on',
      nics: networkIds.length > 0 ? networkIds.map((networkId) => ({ networkId })) : undefined,
      // Keys and user-data apply to disk images only: sent when given, so a kernel image is accepted.
      sshKeyIds: sshKeyIds.length > 0 ? sshKeyIds : undefined,
      cloudInit: userData ? { userData: `${userData}\n` } : undefined,
    });
  };
  const number = (field: keyof Request) => (e: { target: { value: string } }) =>
    setSize((current) => ({ ...current, [field]: Number(e.target.value) }));

  if (create.data) {
    const op = operation.data ?? create.data.operation;
    return (
      <section aria-labelledby="create-title">
        <h1 id="create-title">{t('create.title')}</h1>
        <p role="status" data-operation-status={op.status}>
          {t('create.progress', { kind: op.kind, status: op.status })}
        </p>
        {op.status === 'running' || op.status === 'pending' ? <progress aria-label={op.kind} /> : null}
        <ErrorLine error={op.error ? new Error(`${op.error.code}: ${op.error.detail}`) : undefined} />
        <Link className="button primary" to={`/vms/${create.data.vm.id}`}>
          {t('create.open')}
        </Link>
      </section>
    );
  }

  return (
    <section aria-labelledby="create-title">
      <h1 id="create-title">{t('create.title')}</h1>
      <form className="create-form" onSubmit={submit}>
        <div className="fields">
          <label htmlFor="vm-name">{t('create.name')}</label>
          <input id="vm-name" name="name" required pattern="[a-z0-9][a-z0-9\-]{0,62}" aria-describedby="name-hint" />
          <small id="name-hint">{t('create.nameHint')}</small>
          <label htmlFor="vm-image">{t('create.image')}</label>
          <select id="vm-image" name="imageId" required defaultValue="">
            <option value="" disabled>
              {t('create.chooseImage')}
            </option>
            {available.map((image) => (
              <option key={image.id} value={image.id}>
                {image.name} ({image.kind})
              </option>
            ))}
          </select>
          <div className="row3">
            <label>
              {t('create.vcpus')}
              <input type="number" min={1} max={64} value={size.vcpus} onChange={number('vcpus')} required />
            </label>
            <label>
              {t('create.memory')}
              <input type="number" min={64} step={64} value={size.memoryMiB} onChange={number('memoryMiB')} required />
            </label>
            <label>
              {t('create.disk')}
              <input type="number" min={1} value={size.diskGiB} onChange={number('diskGiB')} required />
            </label>
          </div>
          <fieldset>
            <legend>{t('create.networks')}</legend>
            {networks.data?.items.map((network) => (
              <label key={network.id} className="check">
                <input type="checkbox" name="networks" value={network.id} /> {network.name} ({network.kind})
              </label>
            ))}
          </fieldset>
          <fieldset>
            <legend>{t('create.sshKeys')}</legend>
            {keys.data?.items.length ? (
              keys.data.items.map((key) => (
                <label key={key.id} className="check">
                  <input type="checkbox" name="sshKeyIds" value={key.id} /> {key.name} ({key.fingerprint})
                </label>
              ))
            ) : (
              <p className="muted">{t('create.noKeys')}</p>
            )}
          </fieldset>
          <label htmlFor="vm-user-data">{t('create.userData')}</label>
          <textarea id="vm-user-data" name="userData" rows={4} placeholder="#cloud-config" spellCheck={false} />
          <label className="check">
            <input type="checkbox" name="start" defaultChecked /> {t('create.start')}
          </label>
        </div>
        <QuotaPreview request={size} />
        <ErrorLine error={create.error} />
        <button type="submit" className="primary" disabled={create.isPending}>
          {t('create.submit')}
        </button>
      </form>
    </section>
  );
}
