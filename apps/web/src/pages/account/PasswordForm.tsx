import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { changePassword } from '../../auth/session';
import { ErrorLine } from '../../ui/Status';

export function PasswordForm() {
  const { t } = useTranslation();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const change = useMutation({
    mutationFn: () => changePassword(current, next),
    onSuccess: () => {
      setCurrent('');
      setNext('');
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    change.mutate();
  };
  return (
    <form onSubmit={submit} aria-labelledby="password-title" className="stack">
      <h2 id="password-title">{t('account.password')}</h2>
      <label>
        {t('account.currentPassword')}
        <input
          type="password"
          autoComplete="current-password"
          required
          value={current}
          onChange={(e) => setCurrent(e.target.value)}
        />
      </label>
      <label>
        {t('account.newPassword')} <small>({t('auth.passwordHint')})</small>
        <input
          type="password"
          autoComplete="new-password"
          required
          minLength={12}
          value={next}
          onChange={(e) => setNext(e.target.value)}
        />
      </label>
      <div>
        <button type="submit" className="primary" disabled={change.isPending}>
          {t('account.changePassword')}
        </button>
      </div>
      {change.isSuccess && <p role="status">{t('account.passwordChanged')}</p>}
      <ErrorLine error={change.error} />
    </form>
  );
}
