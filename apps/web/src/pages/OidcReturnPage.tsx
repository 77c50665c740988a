import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate } from 'react-router';
import { completeOidc } from '../auth/session';
import { AuthCard } from '../layout/AuthCard';
import { ErrorLine, Loading } from '../ui/Status';

/** Where the OpenID provider sends the browser back: finishes the sign-in through the api, then the VM list. */
export function OidcReturnPage() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    completeOidc(window.location.search).then(
      () => navigate('/vms', { replace: true }),
      (caught: unknown) => setError(caught),
    );
  }, [navigate]);
  return (
    <AuthCard title={t('auth.signIn')}>
      {error ? <ErrorLine error={error} /> : <Loading />}
      <p>
        <Link to="/signin">{t('auth.signIn')}</Link>
      </p>
    </AuthCard>
  );
}
