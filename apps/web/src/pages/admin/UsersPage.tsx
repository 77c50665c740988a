import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { unwrap } from '../../api/problem';
import { useUsers } from '../../api/queries';
import { api } from '../../auth/session';
import { formatDate } from '../../i18n';
import { ErrorLine, Loading } from '../../ui/Status';

/** Users, with the accounts waiting for approval first. */
export function UsersPage() {
  const { t } = useTranslation();
  const client = useQueryClient();
  const users = useUsers();
  const approve = useMutation({
    mutationFn: async (id: string) =>
      unwrap(await api.POST('/api/v1/users/{id}/approve', { params: { path: { id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['users'] }),
  });
  if (users.isPending) return <Loading />;
  const pending = users.data?.filter((u) => u.status === 'pending') ?? [];
  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">{t('users.title')}</h1>
      <ErrorLine error={users.error ?? approve.error} />
      <h2>{t('users.queue')}</h2>
      {pending.length === 0 ? (
        <p className="muted">{t('users.noQueue')}</p>
      ) : (
        <ul className="queue">
          {pending.map((u) => (
            <li key={u.id} data-user={u.username}>
              <span>
                <strong>{u.username}</strong> <span className="muted">{formatDate(u.createdAt)}</span>
              </span>
              <button
                type="button"
                className="primary"
                disabled={approve.isPending}
                onClick={() => approve.mutate(u.id)}
              >
                {t('users.approve', { name: u.username })}
              </button>
            </li>
          ))}
        </ul>
      )}
      <h2>{t('users.all')}</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">{t('auth.username')}</th>
            <th scope="col">{t('users.role')}</th>
            <th scope="col">{t('users.status')}</th>
            <th scope="col">{t('vms.created')}</th>
          </tr>
        </thead>
        <tbody>
          {users.data?.map((u) => (
            <tr key={u.id}>
              <td>{u.username}</td>
              <td>{u.role}</td>
              <td>{u.status}</td>
              <td>{formatDate(u.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
