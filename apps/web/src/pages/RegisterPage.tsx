import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { register } from '../auth/session';
import { LanguageSelect } from '../layout/LanguageSelect';
import { ErrorLine } from '../ui/Status';

export function RegisterPage() {
  const { t } = useTranslation();
  const [outcome, setOutcome] = useState<'pending' | 'active'>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(undefined);
    try {
      setOutcome(await register(String(form.get('username')), String(form.get('password'))));
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
        <h1>{t('auth.register')}</h1>
        {outcome ? (
          <p role="status" className="notice">
            {outcome === 'pending' ? t('auth.pending') : t('auth.registered')}
          </p>
        ) : (
          <form onSubmit={(e) => void submit(e)}>
            <label htmlFor="username">{t('auth.username')}</label>
            <input id="username" name="username" autoComplete="username" required minLength={3} maxLength={32} />
            <label htmlFor="password">{t('auth.password')}</label>
            <input
              id="password"
              name="password"
              type="password"
              autoComplete="new-password"
              required
              minLength={12}
              aria-describedby="password-hint"
            />
            <small id="password-hint">{t('auth.passwordHint')}</small>
            <ErrorLine error={error} />
            <button type="submit" className="primary" disabled={busy}>
              {t('auth.submitRegister')}
            </button>
          </form>
        )}
        <p>
          <Link to="/signin">{t('auth.haveAccount')}</Link>
        </p>
      </div>
    </main>
  );
}
