import type { components } from '@limen/sdk';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { formatDate } from '../../i18n';
import { DeletableTable } from '../../ui/DeletableTable';
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
        <DeletableTable
          items={live}
          rowData={(token) => ({ 'data-token': token.name })}
          columns={[
            {
              header: t('vms.name'),
              cell: (token) => (
                <>
                  {token.name} <small>{token.hint}</small>
                </>
              ),
            },
            { header: t('account.scopes'), cell: (token) => token.scopes.join(' ') },
            { header: t('account.lastUsed'), cell: (token) => formatDate(token.lastUsedAt) },
          ]}
          deleteLabel={(token) => t('account.revokeToken', { name: token.name })}
          deleteQuestion={(token) => t('account.revokeTokenQuestion', { name: token.name })}
          onDelete={(token) => revoke.mutate(token.id)}
        />
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
