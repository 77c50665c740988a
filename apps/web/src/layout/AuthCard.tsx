import { useState, type FormEvent, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { LanguageSelect } from './LanguageSelect';

/** The frame of the pages before sign-in (sign in, register, the OIDC return): brand, language, heading. */
export function AuthCard({ title, children }: { title: string; children: ReactNode }) {
  const { t } = useTranslation();
  return (
    <main id="main" className="auth-page">
      <div className="auth-card">
        <div className="auth-top">
          <span className="brand">{t('app.name')}</span>
          <LanguageSelect />
        </div>
        <h1>{title}</h1>
        {children}
      </div>
    </main>
  );
}

/**
 * A form's submit handler around `action` (given the form's fields): the button is busy meanwhile,
 * and what it throws (an ApiError) is kept for an ErrorLine.
 */
export function useFormAction(action: (form: FormData) => Promise<void>) {
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const onSubmit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(undefined);
    action(form)
      .catch(setError)
      .finally(() => setBusy(false));
  };
  return { onSubmit, error, busy };
}
