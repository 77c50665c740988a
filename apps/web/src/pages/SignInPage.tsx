import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, Navigate, useLocation, useNavigate } from 'react-router';
import { api, completeSecondFactor, signIn } from '../auth/session';
import { useUser } from '../auth/useSession';
import { AuthCard, useFormAction } from '../layout/AuthCard';
import { ErrorLine } from '../ui/Status';

/** Password first; when the api asks for a second factor (SECOND_FACTOR_REQUIRED), a code step follows. */
export function SignInPage() {
  const { t } = useTranslation();
  const user = useUser();
  const navigate = useNavigate();
  const from = (useLocation().state as { from?: string } | null)?.from ?? '/vms';
  const [challenge, setChallenge] = useState<{ challenge: string; enrolment: boolean }>();
  // Single sign-on, when the api has an OpenID provider configured.
  const oidc = useQuery({ queryKey: ['oidc'], queryFn: async () => (await api.GET('/api/v1/auth/oidc')).data });

  const { onSubmit, error, busy } = useFormAction(async (form) => {
    if (challenge) {
      await completeSecondFactor(challenge.challenge, String(form.get('code')));
    } else {
      const result = await signIn(String(form.get('username')), String(form.get('password')));
      if (result.kind === 'second-factor') return setChallenge(result);
    }
    navigate(from, { replace: true });
  });

  if (user) return <Navigate to={from} replace />;

  return (
    <AuthCard title={challenge ? t('auth.secondFactor') : t('auth.signIn')}>
      <form onSubmit={onSubmit}>
        {challenge ? (
          <>
            {challenge.enrolment && <p>{t('auth.enrolmentNeeded')}</p>}
            <label htmlFor="code">{t('auth.code')}</label>
            <input id="code" name="code" autoComplete="one-time-code" inputMode="numeric" required autoFocus />
          </>
        ) : (
          <>
            <label htmlFor="username">{t('auth.username')}</label>
            <input id="username" name="username" autoComplete="username" required autoFocus />
            <label htmlFor="password">{t('auth.password')}</label>
            <input id="password" name="password" type="password" autoComplete="current-password" required />
          </>
        )}
        <ErrorLine error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {challenge ? t('auth.verify') : t('auth.submitSignIn')}
        </button>
      </form>
      {oidc.data?.enabled && (
        <p>
          <a href="/api/v1/auth/oidc/login">{t('auth.oidc')}</a>
        </p>
      )}
      <p>
        <Link to="/register">{t('auth.noAccount')}</Link>
      </p>
    </AuthCard>
  );
}
