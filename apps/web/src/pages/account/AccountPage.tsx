import { useTranslation } from 'react-i18next';
import { useUser } from '../../auth/useSession';
import { formatDate } from '../../i18n';
import { ApiTokens } from './ApiTokens';
import { PasswordForm } from './PasswordForm';
import { SecondFactor } from './SecondFactor';
import { Sessions } from './Sessions';
import { SshKeys } from './SshKeys';

/** Self-service (issue 17's routes as they land on main): profile, password, SSH keys, sessions. */
export function AccountPage() {
  const { t } = useTranslation();
  const user = useUser();
  return (
    <section aria-labelledby="account-title" className="account">
      <h1 id="account-title">{t('account.title')}</h1>
      <h2>{t('account.profile')}</h2>
      <dl className="facts">
        <dt>{t('auth.username')}</dt>
        <dd>{user?.username}</dd>
        <dt>{t('users.role')}</dt>
        <dd>{user?.role}</dd>
        <dt>{t('account.since')}</dt>
        <dd>{formatDate(user?.createdAt)}</dd>
      </dl>
      <PasswordForm />
      <SecondFactor />
      <SshKeys />
      <ApiTokens />
      <Sessions />
    </section>
  );
}
