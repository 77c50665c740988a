import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { formatDate } from '../../i18n';
import { ConfirmButton } from '../../ui/ConfirmButton';
import { ErrorLine, Loading } from '../../ui/Status';

/** Live sign-ins (refresh-token families); the current one is marked and cannot be revoked here (sign out instead). */
export function Sessions() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const sessions = useQuery({
    queryKey: ['sessions'],
    queryFn: async () => unwrap(await api.GET('/api/v1/auth/sessions')),
  });
  const revoke = useMutation({
    mutationFn: async (id: string) =>
      unwrap(await api.DELETE('/api/v1/auth/sessions/{id}', { params: { path: { id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['sessions'] }),
  });
  return (
    <div aria-labelledby="sessions-title">
      <h2 id="sessions-title">{t('account.sessions')}</h2>
      <ErrorLine error={sessions.error ?? revoke.error} />
      {sessions.isPending ? (
        <Loading />
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{t('account.origin')}</th>
              <th scope="col">{t('account.since')}</th>
              <th scope="col">{t('account.lastUsed')}</th>
              <th scope="col">{t('vm.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {(sessions.data ?? []).map((session) => (
              <tr key={session.id} data-session={session.current ? 'current' : 'other'}>
                <td>
                  {session.createdIp ?? ''} <small>{session.userAgent ?? ''}</small>
                </td>
                <td>{formatDate(session.createdAt)}</td>
                <td>{formatDate(session.lastUsedAt)}</td>
                <td>
                  {session.current ? (
                    <strong>{t('account.thisSession')}</strong>
                  ) : (
                    <ConfirmButton
                      label={t('account.revoke', { id: session.id.slice(0, 8) })}
                      question={t('account.revokeQuestion')}
                      onConfirm={() => revoke.mutate(session.id)}
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
