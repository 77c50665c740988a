import type { components } from '@limen/sdk';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { formatDate } from '../../i18n';
import { ConfirmButton } from '../../ui/ConfirmButton';
import { ErrorLine, Loading } from '../../ui/Status';

type Scope = components['schemas']['CreateApiTokenDto']['scopes'][number];
/** The scopes a person usually hands a script; the api knows more (see the API guide). */
const SCOPES: Scope[] = ['vms:read', 'vms:write', 'images:read', 'ssh-keys:read', 'events:read'];

/** Personal API tokens: the secret is shown once, right after it is made; revoked ones leave the list. */
export function ApiTokens() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['vms:read']);
  const tokens = useQuery({
    queryKey: ['tokens'],
    queryFn: async () => unwrap(await api.GET('/api/v1/tokens', { params: { query: { limit: 500 } } })),
  });
  const create = useMutation({
    mutationFn: async () => unwrap(await api.POST('/api/v1/tokens', { body: { name, scopes, expiresInDays: 90 } })),
    onSuccess: () => {
      setName('');
      void client.invalidateQueries({ queryKey: ['tokens'] });
    },
  });
  const revoke = useMutation({
    mutationFn: async (id: string) => unwrap(await api.DELETE('/api/v1/tokens/{id}', { params: { path: { id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['tokens'] }),
  });
  const toggle = (scope: Scope) =>
    setScopes((now) => (now.includes(scope) ? now.filter((s) => s !== scope) : [...now, scope]));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  const live = (tokens.data?.items ?? []).filter((token) => !token.revokedAt);
  return (
    <div aria-labelledby="tokens-title">
      <h2 id="tokens-title">{t('account.tokens')}</h2>
      <ErrorLine error={tokens.error ?? revoke.error} />
      {create.data && (
        <p role="status" className="recovery">
          {t('account.tokenSecret')} <code data-token-secret>{create.data.secret}</code>
        </p>
      )}
      {tokens.isPending ? (
        <Loading />
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{t('vms.name')}</th>
              <th scope="col">{t('account.scopes')}</th>
              <th scope="col">{t('account.lastUsed')}</th>
              <th scope="col">{t('vm.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {live.map((token) => (
              <tr key={token.id} data-token={token.name}>
                <td>
                  {token.name} <small>{token.hint}</small>
                </td>
                <td>{token.scopes.join(' ')}</td>
                <td>{formatDate(token.lastUsedAt)}</td>
                <td>
                  <ConfirmButton
                    danger
                    label={t('account.revokeToken', { name: token.name })}
                    question={t('account.revokeTokenQuestion', { name: token.name })}
                    onConfirm={() => revoke.mutate(token.id)}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form onSubmit={submit} className="stack">
        <label>
          {t('account.tokenName')}
          <input required maxLength={64} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <fieldset>
          <legend>{t('account.scopes')}</legend>
          {SCOPES.map((scope) => (
            <label key={scope} className="check">
              <input type="checkbox" checked={scopes.includes(scope)} onChange={() => toggle(scope)} /> {scope}
            </label>
          ))}
        </fieldset>
        <div>
          <button type="submit" disabled={create.isPending || scopes.length === 0}>
            {t('account.createToken')}
          </button>
        </div>
        <ErrorLine error={create.error} />
      </form>
    </div>
  );
}
