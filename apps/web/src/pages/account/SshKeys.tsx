import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { formatDate } from '../../i18n';
import { ConfirmButton } from '../../ui/ConfirmButton';
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
        <table>
          <thead>
            <tr>
              <th scope="col">{t('vms.name')}</th>
              <th scope="col">{t('account.fingerprint')}</th>
              <th scope="col">{t('account.since')}</th>
              <th scope="col">{t('vm.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {items.map((key) => (
              <tr key={key.id}>
                <td>{key.name}</td>
                <td>
                  <code>{key.fingerprint}</code> <small>({key.type})</small>
                </td>
                <td>{formatDate(key.createdAt)}</td>
                <td>
                  <ConfirmButton
                    danger
                    label={t('account.deleteKey', { name: key.name })}
                    question={t('account.deleteKeyQuestion', { name: key.name })}
                    onConfirm={() => remove.mutate(key.id)}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
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
