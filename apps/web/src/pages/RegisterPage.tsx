import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { register } from '../auth/session';
import { AuthCard, useFormAction } from '../layout/AuthCard';
import { ErrorLine } from '../ui/Status';

export function RegisterPage() {
  const { t } = useTranslation();
  const [outcome, setOutcome] = useState<'pending' | 'active'>();
  const { onSubmit, error, busy } = useFormAction(async (form) =>
    setOutcome(await register(String(form.get('username')), String(form.get('password')))),
  );

  return (
    <AuthCard title={t('auth.register')}>
      {outcome ? (
        <p role="status" className="notice">
          {outcome === 'pending' ? t('auth.pending') : t('auth.registered')}
        </p>
      ) : (
        <form onSubmit={onSubmit}>
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
    </AuthCard>
  );
}
