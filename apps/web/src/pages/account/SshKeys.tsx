import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { formatDate } from '../../i18n';
import { DeletableTable } from '../../ui/DeletableTable';
import { ErrorLine, Loading } from '../../ui/Status';

export function SshKeys() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [name, setName] = useState('');
  const [publicKey, setPublicKey] = useState('');
  const keys = useQuery({
    queryKey: ['ssh-keys'],
    queryFn: async () => unwrap(await api.GET('/api/v1/ssh-keys', { params: { query: { limit: 500 } } })),
  });
  const add = useMutation({
    mutationFn: async () => unwrap(await api.POST('/api/v1/ssh-keys', { body: { name, publicKey: publicKey.trim() } })),
    onSuccess: () => {
      setName('');
      setPublicKey('');
      void client.invalidateQueries({ queryKey: ['ssh-keys'] });
    },
  });
  const remove = useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE('/api/v1/ssh-keys/{id}', { params: { path: { id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['ssh-keys'] }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    add.mutate();
  };
  const items = keys.data?.items ?? [];
  return (
    <div aria-labelledby="keys-title">
      <h2 id="keys-title">{t('account.sshKeys')}</h2>
      <ErrorLine error={keys.error ?? remove.error} />
      {keys.isPending ? (
        <Loading />
      ) : items.length === 0 ? (
        <p className="muted">{t('account.noKeys')}</p>
      ) : (
        <DeletableTable
          items={items}
          columns={[
            { header: t('vms.name'), cell: (key) => key.name },
            {
              header: t('account.fingerprint'),
              cell: (key) => (
                <>
                  <code>{key.fingerprint}</code> <small>({key.type})</small>
                </>
              ),
            },
            { header: t('account.since'), cell: (key) => formatDate(key.createdAt) },
          ]}
          deleteLabel={(key) => t('account.deleteKey', { name: key.name })}
          deleteQuestion={(key) => t('account.deleteKeyQuestion', { name: key.name })}
          onDelete={(key) => remove.mutate(key.id)}
        />
      )}
      <form onSubmit={submit} className="stack">
        <label>
          {t('account.keyName')}
          <input required maxLength={64} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          {t('account.publicKey')}
          <textarea required rows={3} value={publicKey} onChange={(e) => setPublicKey(e.target.value)} />
        </label>
        <div>
          <button type="submit" disabled={add.isPending}>
            {t('account.addKey')}
          </button>
        </div>
        <ErrorLine error={add.error} />
      </form>
    </div>
  );
}
