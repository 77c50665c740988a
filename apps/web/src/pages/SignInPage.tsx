import { useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, Navigate, useLocation, useNavigate } from 'react-router';
import { api, completeSecondFactor, signIn } from '../auth/session';
import { useUser } from '../auth/useSession';
import { LanguageSelect } from '../layout/LanguageSelect';
import { ErrorLine } from '../ui/Status';

/** Password first; when the api asks for a second factor (SECOND_FACTOR_REQUIRED), a code step follows. */
export function SignInPage() {
  const { t } = useTranslation();
  const user = useUser();
  const navigate = useNavigate();
  const from = (useLocation().state as { from?: string } | null)?.from ?? '/vms';
  const [challenge, setChallenge] = useState<{ challenge: string; enrolment: boolean }>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  // Single sign-on, when the api has an OpenID provider configured.
  const oidc = useQuery({ queryKey: ['oidc'], queryFn: async () => (await api.GET('/api/v1/auth/oidc')).data });

  if (user) return <Navigate to={from} replace />;

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(undefined);
    try {
      if (challenge) {
        await completeSecondFactor(challenge.challenge, String(form.get('code')));
      } else {
        const result = await signIn(String(form.get('username')), String(form.get('password')));
        if (result.kind === 'second-factor') return setChallenge(result);
      }
      navigate(from, { replace: true });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="auth-page">
      <div className="auth-card">
        <div className="auth-top">
          <span className="brand">{t('app.name')}</span>
          <LanguageSelect />
        </div>
        <h1>{challenge ? t('auth.secondFactor') : t('auth.signIn')}</h1>
        <form onSubmit={(e) => void submit(e)}>
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
      </div>
    </main>
  );
}
